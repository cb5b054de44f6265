"""Wire contracts: what Temporal stores and what clients in any language send.

Frozen pydantic models with snake_case field names and no aliases (the pydantic data
converter serialises by alias, so an alias would leak into histories). Units are in field
names, durations are seconds, datetimes are UTC, secrets appear only as references. New
fields are optional; fields are never renamed. ``extra="ignore"`` keeps an older worker
tolerant of fields a newer client adds.
"""
