"""ehrgen.ingest"""

from ehrgen.ingest.clinical.loader import load_clinical

__all__ = ["load_clinical"]
