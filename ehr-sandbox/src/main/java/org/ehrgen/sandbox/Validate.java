package org.ehrgen.sandbox;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;

import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Offline profile validation with the same engine and packages as the sandbox's request validation.
 *
 * Usage: java -cp ehr-sandbox.jar org.ehrgen.sandbox.Validate [--json] [--min-severity warning]
 *        [--ig IG.tgz] [--packages DIR] [--files-from LIST] FILE...
 * Prints one line per issue: file, severity, FHIRPath location, message (tab-separated, or JSON lines
 * with --json). Exit code: 0 no errors, 1 at least one error or fatal, 2 bad usage.
 * A file that cannot be read or parsed is reported as an error for that file; the others still run.
 */
public final class Validate {
	private Validate() {}

	public static void main(String[] theArgs) throws Exception {
		// before any logger exists: logs to stderr, findings alone on stdout
		System.setProperty("ehrgen.log.target", "System.err");
		Options opts = Options.parse(theArgs);
		boolean json = false;
		ResultSeverityEnum minSeverity = ResultSeverityEnum.WARNING;
		java.util.List<Path> files = new java.util.ArrayList<>();
		for (int i = 0; i < opts.rest.size(); i++) {
			String a = opts.rest.get(i);
			if (a.equals("--json")) {
				json = true;
			} else if (a.equals("--min-severity") && i + 1 < opts.rest.size()) {
				minSeverity = ResultSeverityEnum.fromCode(opts.rest.get(++i).toLowerCase(Locale.ROOT));
				if (minSeverity == null) {
					System.err.println("error: --min-severity must be information, warning, error or fatal");
					System.exit(2);
				}
			} else if (a.equals("--files-from") && i + 1 < opts.rest.size()) {
				// one path per line: no command-line length limit for large batches
				for (String line : Files.readAllLines(Path.of(opts.rest.get(++i)), StandardCharsets.UTF_8)) {
					if (!line.isBlank()) {
						files.add(Path.of(line.strip()));
					}
				}
			} else if (a.startsWith("--")) {
				System.err.println("error: unknown option " + a);
				System.exit(2);
			} else {
				files.add(Path.of(a));
			}
		}
		if (files.isEmpty()) {
			System.err.println("usage: Validate [--json] [--min-severity warning] [--ig IG.tgz] [--packages DIR] FILE...");
			System.exit(2);
		}

		FhirContext ctx = FhirContext.forR4Cached();
		FhirValidator validator = ProfileValidation.newValidator(
				ctx,
				ProfileValidation.newInstanceValidator(ProfileValidation.newSupportChain(
						ctx, ProfileValidation.packageFiles(opts.igPackage, opts.packagesDir))));

		PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
		int errors = 0;
		for (Path file : files) {
			String body;
			try {
				body = Files.readString(file, StandardCharsets.UTF_8);
			} catch (IOException e) {
				emit(out, json, file, "error", "(file)", "cannot read file: " + e);
				errors++;
				continue;
			}
			ValidationResult result;
			try {
				result = validator.validateWithResult(body);
			} catch (Exception e) {
				emit(out, json, file, "error", "(parse)", "not a FHIR resource: " + e.getMessage());
				errors++;
				continue;
			}
			for (SingleValidationMessage m : result.getMessages()) {
				ResultSeverityEnum sev = m.getSeverity();
				if (sev == ResultSeverityEnum.ERROR || sev == ResultSeverityEnum.FATAL) {
					errors++;
				}
				if (sev.ordinal() >= minSeverity.ordinal()) {
					emit(out, json, file, sev.getCode(), m.getLocationString(), m.getMessage());
				}
			}
		}
		out.flush();
		System.exit(errors == 0 ? 0 : 1);
	}

	private static void emit(
			PrintStream theOut, boolean theJson, Path theFile, String theSeverity, String theLocation, String theMsg)
			throws IOException {
		String location = theLocation == null ? "" : theLocation;
		String msg = theMsg == null ? "" : theMsg.replace('\n', ' ').replace('\t', ' ');
		if (!theJson) {
			theOut.println(theFile + "\t" + theSeverity + "\t" + location + "\t" + msg);
			return;
		}
		StringWriter w = new StringWriter();
		try (JsonGenerator g = new JsonFactory().createGenerator(w)) {
			g.writeStartObject();
			g.writeStringField("file", theFile.toString());
			g.writeStringField("severity", theSeverity);
			g.writeStringField("location", location);
			g.writeStringField("message", msg);
			g.writeEndObject();
		}
		theOut.println(w);
	}
}
