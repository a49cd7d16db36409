"""The event table: one row per event, NUISANCE flat-tree column names, Parquet on disk."""
from aiva.events.table import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    EventTable,
    validate,
)
from aiva.events.io import read_events, write_csv, write_events, write_parquet

__all__ = [
    "EventTable",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "validate",
    "read_events",
    "write_events",
    "write_parquet",
    "write_csv",
]
