"""Clinical data ingestion: patients, sample links, consent and medications from CSV, HL7 v2 and FHIR."""
