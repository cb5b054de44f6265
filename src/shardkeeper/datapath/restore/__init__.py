"""One shard restore: find a backup in the store, verify it while reading, put it back.

``resolve.py`` finds the backup and its key, ``download.py`` reads and decodes a stored
stream, ``physical.py`` stages and copies back a physical backup, ``logical.py`` applies a
dump to a server, and ``job.py`` maps an agent restore request onto them. This room never
imports the backup room.
"""
