package org.ehrgen.sandbox;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Command-line options shared by the server and the validator; environment variables as fallback. */
final class Options {
	/** ehr-sandbox/, found from this jar (ehr-sandbox/target/ehr-sandbox.jar); defaults hang off it. */
	private static final Path SANDBOX_DIR = sandboxDir();

	String host = "127.0.0.1";
	int port = 8080;
	Path dataDir = SANDBOX_DIR.resolve("data");
	// the project's pinned copy (ehr-sandbox/ig/, listed with its checksum in packages.txt)
	Path igPackage = SANDBOX_DIR.resolve("ig/hl7.fhir.uv.genomics-reporting-3.0.0.tgz");
	Path packagesDir = SANDBOX_DIR.resolve("packages");
	final List<String> rest = new ArrayList<>();

	private static Path sandboxDir() {
		try {
			Path jar = Path.of(Options.class.getProtectionDomain().getCodeSource().getLocation().toURI());
			// target/ehr-sandbox.jar or target/classes -> ehr-sandbox/
			return jar.toAbsolutePath().getParent().getParent();
		} catch (Exception e) {
			return Path.of("").toAbsolutePath();
		}
	}

	static Options parse(String[] theArgs) {
		Options o = new Options();
		String env = System.getenv("EHRGEN_GENOMICS_IG");
		if (env != null && !env.isBlank()) {
			o.igPackage = Path.of(env);
		}
		for (int i = 0; i < theArgs.length; i++) {
			String a = theArgs[i];
			switch (a) {
				case "--host" -> o.host = need(theArgs, ++i, a);
				case "--port" -> o.port = Integer.parseInt(need(theArgs, ++i, a));
				case "--data" -> o.dataDir = Path.of(need(theArgs, ++i, a));
				case "--ig" -> o.igPackage = Path.of(need(theArgs, ++i, a));
				case "--packages" -> o.packagesDir = Path.of(need(theArgs, ++i, a));
				default -> o.rest.add(a);
			}
		}
		return o;
	}

	private static String need(String[] theArgs, int theIdx, String theFlag) {
		if (theIdx >= theArgs.length) {
			throw new IllegalArgumentException(theFlag + " needs a value");
		}
		return theArgs[theIdx];
	}
}
