from sqlalchemy import Engine, inspect

from arrears.store.schema import metadata


def test_upgrade_creates_every_table(db: Engine) -> None:
    present = set(inspect(db).get_table_names())
    assert set(metadata.tables) <= present
