"""Suite-wide pytest configuration: registers the real-server fixtures."""

# tests/ has no __init__.py, so pytest puts this directory on sys.path and the plugin
# module is importable as ``fixtures.servers``.
pytest_plugins = ["fixtures.servers", "fixtures.k8s_api"]
