"""ehrgen.hl7"""
