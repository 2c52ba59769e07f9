"""ehrgen.rules"""
