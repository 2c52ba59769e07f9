"""Prefect 3 flows: thin wrappers over ehrgen.pipeline (see docs/operations.md)."""
