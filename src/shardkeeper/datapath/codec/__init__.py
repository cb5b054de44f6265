"""The optional encodings of a stored stream: zstd compression and AES-256-GCM encryption.

Backups encode with them and restores decode; they import no store and no engine.
"""
