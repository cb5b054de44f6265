"""Deterministic orchestration: no I/O, no wall clock, no randomness outside ``workflow.*``.

Activities are called by their stable names (``contracts.names``) so workflow modules import
no I/O library and stay light inside the sandbox.
"""
