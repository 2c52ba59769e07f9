"""Outputs for people: per-patient reports and the cohort summary."""
