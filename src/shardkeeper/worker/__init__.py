"""The Temporal worker process: registry, settings, error mapping, graceful shutdown."""
