"""ehrgen.cli"""
