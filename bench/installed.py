"""The product as a user has it installed, for the benches that time `arrears` commands."""

from __future__ import annotations

import compileall
from pathlib import Path

import arrears


def compile_product() -> None:
    """Byte-compile the arrears package once, as `pip install` does: in an environment that
    sets `PYTHONDONTWRITEBYTECODE`, every `arrears` command would otherwise compile its
    sources again at start (about 0.07 s of each run on the bench machine)."""
    compileall.compile_dir(Path(arrears.__file__).parent, quiet=1)
