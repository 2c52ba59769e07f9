"""ehrgen.ingest"""
