package org.ehrgen.sandbox;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.interceptor.UserRequestRetryVersionConflictsInterceptor;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.RequestValidatingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import ca.uhn.fhir.validation.IInstanceValidatorModule;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import jakarta.persistence.EntityManagerFactory;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

import javax.sql.DataSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Properties;

/**
 * Spring wiring of the HAPI FHIR JPA server (R4) on an H2 file database, without Spring Boot.
 * The HAPI configuration classes supply the DAOs, search, transactions and batch jobs; this class
 * supplies what they leave to the application: database, entity manager, settings, the servlet.
 */
@Configuration
@EnableTransactionManagement
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	// in-memory message broker that batch2 (reindex, bulk export) needs even without subscriptions
	SubscriptionChannelConfig.class,
	ThreadPoolFactoryConfig.class
})
public class SandboxConfig {

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		// absolute references to canonical/external URLs (e.g. to a lab's system) are kept, not resolved
		s.setAllowExternalReferences(true);
		// a search right after a write must see it: no reuse of cached search results (default 60 s)
		s.setReuseCachedSearchResultsForMillis(null);
		s.setAllowMultipleDelete(true);
		s.setExpungeEnabled(true);
		s.setDeleteExpungeEnabled(true);
		// no background jobs we do not need on a small machine
		s.setEnableTaskPreExpandValueSets(false);
		s.setEnableTaskBulkExportJobExecution(false);
		s.setEnableTaskResourceReindexing(false);
		s.setEnableTaskStaleSearchCleanup(true);
		s.setDefaultSearchParamsCanBeOverridden(true);
		return s;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings();
	}

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource(Options theOptions) {
		BasicDataSource ds = new BasicDataSource();
		ds.setDriverClassName("org.h2.Driver");
		Path db = theOptions.dataDir.toAbsolutePath().resolve("h2");
		ds.setUrl("jdbc:h2:file:" + db + ";DB_CLOSE_ON_EXIT=FALSE");
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaxTotal(10);
		return ds;
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			DataSource theDataSource,
			ConfigurableListableBeanFactory theBeanFactory,
			FhirContext theFhirContext,
			JpaStorageSettings theStorageSettings) {
		LocalContainerEntityManagerFactoryBean f =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(theBeanFactory, theFhirContext, theStorageSettings);
		f.setPersistenceUnitName("HAPI_PU");
		f.setDataSource(theDataSource);
		Properties p = new Properties();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.search.enabled", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		f.setJpaProperties(p);
		return f;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory theEntityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(theEntityManagerFactory);
		return tm;
	}

	/**
	 * The instance validator with the Genomics Reporting IG (see ProfileValidation). It replaces HAPI's
	 * bean of the same name (declared here, so it wins over the imported definition), so the server's
	 * $validate operation and the request validation below give the same verdicts as the offline tool.
	 */
	@Bean(name = "myInstanceValidator")
	public IInstanceValidatorModule instanceValidator(FhirContext theFhirContext, Options theOptions)
			throws IOException {
		var chain = ProfileValidation.newSupportChain(
				theFhirContext, ProfileValidation.packageFiles(theOptions.igPackage, theOptions.packagesDir));
		return ProfileValidation.newInstanceValidator(chain);
	}

	@Bean
	public RequestValidatingInterceptor requestValidatingInterceptor(
			@Qualifier("myInstanceValidator") IInstanceValidatorModule theValidator) {
		RequestValidatingInterceptor rvi = new RequestValidatingInterceptor();
		rvi.addValidatorModule(theValidator);
		// reject (HTTP 422 + OperationOutcome) on any error; warnings such as unknown LOINC codes pass
		rvi.setFailOnSeverity(ResultSeverityEnum.ERROR);
		rvi.setAddResponseHeaderOnSeverity(null);
		rvi.setAddResponseOutcomeHeaderOnSeverity(null);
		return rvi;
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> theSystemDao,
			@Qualifier("mySystemProviderR4") Object theSystemProvider,
			ResourceProviderFactory theResourceProviderFactory,
			JpaStorageSettings theStorageSettings,
			ISearchParamRegistry theSearchParamRegistry,
			IValidationSupport theValidationSupport,
			DatabaseBackedPagingProvider thePagingProvider,
			RequestValidatingInterceptor theRequestValidatingInterceptor) {
		RestfulServer server = new RestfulServer(theSystemDao.getContext());
		server.registerProviders(theResourceProviderFactory.createProviders());
		server.registerProvider(theSystemProvider);
		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server, theSystemDao, theStorageSettings, theSearchParamRegistry, theValidationSupport));
		server.setPagingProvider(thePagingProvider);
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.registerInterceptor(theRequestValidatingInterceptor);
		// concurrent writes of the same conditional create/update: the losers get 409 unless the client
		// asks for a server-side retry with "X-Retry-On-Version-Conflict: retry; max-retries=3"
		server.registerInterceptor(new UserRequestRetryVersionConflictsInterceptor());
		return server;
	}
}
