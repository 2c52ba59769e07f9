"""ehrgen.cds"""
