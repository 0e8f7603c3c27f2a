"""The one metadata: the core tables (`tables`) plus each area's `tables_<area>` module, imported
here for its side effect of registering on `metadata`."""

import importlib
import pkgutil

from arrears import store
from arrears.store import statement_keys, tables, unassessed
from arrears.store.tables import metadata

for _info in sorted(pkgutil.iter_modules(store.__path__), key=lambda m: m.name):
    if _info.name.startswith("tables_"):
        importlib.import_module(f"arrears.store.{_info.name}")

# on PostgreSQL, `create_all` holds some keys with triggers, as the migrations do
statement_keys.listen(metadata)
# the queue of accounts to assess is filled by triggers, on both databases
unassessed.listen(metadata)

__all__ = ["metadata", "tables"]
