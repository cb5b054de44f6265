"""Activities: the I/O steps workflows schedule (readiness, launch, await, verify, prune)."""
