"""The ``shardkeeper`` command line: thin commands over control/ and worker/.

The agent an executor starts has its own slim entry point, ``shardkeeper.agent``.
"""
