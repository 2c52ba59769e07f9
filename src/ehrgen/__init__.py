"""ehrgen: clinical pharmacogenomics from VCF to the prescriber."""

__version__ = "0.1.0"
