package org.ehrgen.sandbox;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.LenientErrorHandler;
import ca.uhn.fhir.validation.FhirValidator;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.r5.utils.validation.constants.BestPracticeWarningLevel;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The one place that decides how Genomics Reporting profiles are checked, shared by the server's
 * request validation and the offline {@link Validate} command so both give the same verdicts.
 *
 * Everything comes from local files: core R4 from hapi-fhir-validation-resources-r4 on the classpath,
 * the IG and its dependency packages from .tgz files. Nothing is fetched from packages.fhir.org or a
 * terminology server (none is reachable at run time).
 */
public final class ProfileValidation {
	private static final Logger ourLog = LoggerFactory.getLogger(ProfileValidation.class);

	/** Conformance resource types the validator needs; examples and other types are skipped. */
	private static final Set<String> CONFORMANCE_TYPES = Set.of("StructureDefinition", "ValueSet", "CodeSystem");

	private ProfileValidation() {}

	/** The IG tgz first, then every *.tgz in the packages directory (its dependencies). */
	public static List<Path> packageFiles(Path theIgPackage, Path thePackagesDir) throws IOException {
		if (!Files.isRegularFile(theIgPackage)) {
			throw new IOException("Genomics Reporting IG package not found: " + theIgPackage
					+ " (set EHRGEN_GENOMICS_IG or pass --ig)");
		}
		List<Path> out = new ArrayList<>();
		out.add(theIgPackage);
		if (thePackagesDir != null && Files.isDirectory(thePackagesDir)) {
			try (Stream<Path> s = Files.list(thePackagesDir)) {
				s.filter(p -> p.getFileName().toString().endsWith(".tgz")).sorted().forEach(out::add);
			}
		}
		return out;
	}

	/** Load StructureDefinitions, ValueSets and CodeSystems from local npm package tarballs. */
	public static PrePopulatedValidationSupport loadPackages(FhirContext theCtx, List<Path> thePackages)
			throws IOException {
		PrePopulatedValidationSupport support = new PrePopulatedValidationSupport(theCtx);
		IParser parser = theCtx.newJsonParser();
		// R5-flavoured or sloppy content in terminology packages must not stop loading the rest
		parser.setParserErrorHandler(new LenientErrorHandler(false));
		for (Path pkgFile : thePackages) {
			int loaded = 0;
			int failed = 0;
			NpmPackage pkg;
			try (InputStream in = Files.newInputStream(pkgFile)) {
				pkg = NpmPackage.fromPackage(in);
			}
			for (String file : pkg.listResources(CONFORMANCE_TYPES)) {
				try (InputStream r = pkg.load("package", file)) {
					support.addResource(parser.parseResource(r));
					loaded++;
				} catch (Exception e) {
					failed++;
					ourLog.debug("Skipping {} in {}: {}", file, pkgFile.getFileName(), e.getMessage());
				}
			}
			ourLog.info("Loaded {} conformance resources from {}#{} ({} skipped)",
					loaded, pkg.name(), pkg.version(), failed);
		}
		return support;
	}

	/**
	 * The validation support chain. Order matters: core definitions first, then the IG and its
	 * packages, then terminology. Unknown external code systems (LOINC, RxNorm, HGNC, ...) end up in
	 * UnknownCodeSystemWarningValidationSupport, which reports them as warnings, not errors.
	 */
	public static ValidationSupportChain newSupportChain(FhirContext theCtx, List<Path> thePackages)
			throws IOException {
		UnknownCodeSystemWarningValidationSupport unknownCs = new UnknownCodeSystemWarningValidationSupport(theCtx);
		unknownCs.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
		return new ValidationSupportChain(
				new DefaultProfileValidationSupport(theCtx),
				loadPackages(theCtx, thePackages),
				new CommonCodeSystemsTerminologyService(theCtx),
				new InMemoryTerminologyServerValidationSupport(theCtx),
				new SnapshotGeneratingValidationSupport(theCtx),
				unknownCs);
	}

	/** The instance validator module: structure, cardinality, fixed values, patterns and invariants are errors. */
	public static FhirInstanceValidator newInstanceValidator(IValidationSupport theChain) {
		FhirInstanceValidator v = new FhirInstanceValidator(theChain);
		// extensions the IG does not define are reported as information, not rejected
		v.setAnyExtensionsAllowed(true);
		v.setErrorForUnknownProfiles(true);
		v.setBestPracticeWarningLevel(BestPracticeWarningLevel.Ignore);
		// references to resources on the server (or in the same transaction) are not resolved here
		v.setAssumeValidRestReferences(true);
		return v;
	}

	public static FhirValidator newValidator(FhirContext theCtx, FhirInstanceValidator theModule) {
		FhirValidator validator = theCtx.newValidator();
		validator.registerValidatorModule(theModule);
		return validator;
	}
}
