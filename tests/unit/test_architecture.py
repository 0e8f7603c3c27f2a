"""The layering in docs/architecture.md holds: import-linter's contracts (.importlinter) pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    done = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_contracts_name_every_layer_and_the_edges_never_import_the_store() -> None:
    text = (ROOT / ".importlinter").read_text()
    for package in ("cli", "web", "api", "services", "engine", "store", "domain"):
        assert f"arrears.{package}" in text
    assert "type = acyclic_siblings" in text and "type = forbidden" in text
