"""The only code that speaks SQL: the DuckDB state file, its migrations and value codec."""

from .store import Store
from .values import NOT_PERSISTED, ValueCodec

__all__ = ["Store", "ValueCodec", "NOT_PERSISTED"]
