"""ehrgen.deliver: release exported FHIR bundles and HL7 v2 messages to the EHR (outbox, FHIR, MLLP)."""

from ehrgen.deliver.api import deliver_dir, targets_from_settings
from ehrgen.deliver.model import DeliveryOutcome, DeliveryReport, FhirTarget, MllpTarget, OutboxTarget

__all__ = ["deliver_dir", "targets_from_settings", "DeliveryOutcome", "DeliveryReport", "FhirTarget",
           "MllpTarget", "OutboxTarget"]
