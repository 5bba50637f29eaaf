"""Bytes and paths at the edge: YAML/JSON into located documents and models,
rosters, plan files, the bundled protocols, and atomic, permission-aware writes
(nothing half-written is ever left behind).
"""
