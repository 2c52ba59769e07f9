"""ehrgen.pgx"""
