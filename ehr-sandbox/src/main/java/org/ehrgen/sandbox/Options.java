package org.ehrgen.sandbox;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Command-line options shared by the server and the validator; environment variables as fallback. */
final class Options {
	String host = "127.0.0.1";
	int port = 8080;
	Path dataDir = Path.of("data");
	Path igPackage = Path.of("../shared/reference/fhir/hl7.fhir.uv.genomics-reporting-3.0.0.tgz");
	Path packagesDir = Path.of("packages");
	final List<String> rest = new ArrayList<>();

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
