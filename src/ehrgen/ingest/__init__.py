"""ehrgen.ingest

`load_clinical` is imported on first use: the clinical readers pull in pandas and fhir.resources (about a second),
which reading a VCF (`ehrgen call`, every pipeline worker process) never needs."""

from typing import Any

__all__ = ["load_clinical"]


def __getattr__(name: str) -> Any:
    if name == "load_clinical":
        from ehrgen.ingest.clinical.loader import load_clinical

        return load_clinical
    raise AttributeError(f"module 'ehrgen.ingest' has no attribute {name!r}")
