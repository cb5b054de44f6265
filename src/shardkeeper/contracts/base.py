"""The base model every contract derives from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """Frozen, snake_case, alias-free, tolerant of unknown fields."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)
