package org.ehrgen.sandbox;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.RequestValidatingInterceptor;
import ca.uhn.fhir.validation.FhirValidator;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/**
 * Starts the sandbox: HAPI FHIR JPA server (R4) at http://HOST:PORT/fhir on embedded Jetty.
 * Usage: java -jar ehr-sandbox.jar [--host 127.0.0.1] [--port 8080] [--data DIR] [--ig IG.tgz] [--packages DIR]
 */
public final class SandboxServer {
	private static final Logger ourLog = LoggerFactory.getLogger(SandboxServer.class);

	private SandboxServer() {}

	/**
	 * The first profile validation builds the validator's internal context (~10 s). Do it before the
	 * port opens so that "answers /metadata" also means "the first POST is not slow".
	 */
	private static void warmUpValidator(RequestValidatingInterceptor theInterceptor, FhirContext theCtx)
			throws Exception {
		long t0 = System.currentTimeMillis();
		FhirValidator validator = theCtx.newValidator();
		theInterceptor.getValidatorModules().forEach(validator::registerValidatorModule);
		try (InputStream in = SandboxServer.class.getResourceAsStream("/warmup-genotype.json")) {
			validator.validateWithResult(new String(in.readAllBytes(), StandardCharsets.UTF_8));
		}
		ourLog.info("Profile validator warmed up in {} ms", System.currentTimeMillis() - t0);
	}

	public static void main(String[] theArgs) throws Exception {
		Options opts = Options.parse(theArgs);
		Files.createDirectories(opts.dataDir);
		long t0 = System.currentTimeMillis();

		AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext();
		spring.getBeanFactory().registerSingleton("sandboxOptions", opts);
		spring.register(SandboxConfig.class);
		spring.refresh();
		RestfulServer fhirServlet = spring.getBean(RestfulServer.class);
		warmUpValidator(spring.getBean(RequestValidatingInterceptor.class), fhirServlet.getFhirContext());

		Server jetty = new Server();
		ServerConnector connector = new ServerConnector(jetty);
		connector.setHost(opts.host);
		connector.setPort(opts.port);
		jetty.addConnector(connector);
		ServletContextHandler handler = new ServletContextHandler();
		handler.setContextPath("/");
		ServletHolder holder = new ServletHolder("fhir", fhirServlet);
		holder.setInitOrder(1);
		handler.addServlet(holder, "/fhir/*");
		jetty.setHandler(handler);

		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			try {
				jetty.stop();
			} catch (Exception e) {
				ourLog.warn("Jetty stop failed: {}", e.toString());
			}
			spring.close();
		}, "sandbox-shutdown"));

		jetty.start();
		ourLog.info("EHR sandbox ready at http://{}:{}/fhir after {} ms", opts.host, opts.port,
				System.currentTimeMillis() - t0);
		jetty.join();
	}
}
