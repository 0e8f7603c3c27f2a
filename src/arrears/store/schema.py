"""The one metadata: the core tables plus each area's tables (imported for their side effect
of registering on `metadata`)."""

from arrears.store import tables
from arrears.store.tables import metadata

__all__ = ["metadata", "tables"]
