"""ehrgen.store"""
