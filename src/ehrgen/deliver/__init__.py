"""ehrgen.deliver"""
