"""ehrgen.fhir"""
