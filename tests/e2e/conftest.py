"""A real server on loopback (uvicorn in a thread) and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.privacy.keyring import KeyRing
from arrears.store import migrate
from arrears.store.db import make_engine

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("ARREARS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (install the chromium package or set ARREARS_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("ARREARS_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    app: App
    base: str
    sms: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def wired(tmp_path: Path) -> App:
    engine = make_engine(f"sqlite:///{tmp_path / 'arrears.db'}")
    migrate.upgrade(engine)
    app = App(Settings(database_url=str(engine.url), outbox_dir=tmp_path / "outbox"))
    app.engine = engine  # type: ignore[misc]
    app.keyring = KeyRing.generate()  # type: ignore[misc]
    return app


def serve(app: App, **kw: Any) -> Iterator[Served]:
    import uvicorn

    from arrears.web.app import create_app

    sms: list[tuple[str, str]] = []
    web = create_app(app, otp_sender=lambda phone, text: sms.append((phone, text)), **kw)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield Served(app, f"http://127.0.0.1:{port}", sms)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def save_screenshot(page: Any, path: Path) -> None:
    """The whole page as a PNG at `path`. A screenshot is evidence for a person to look at, not
    the test: Chromium now and then refuses a full-page capture under load ("Unable to capture
    screenshot"), so it is tried again and, failing that, the visible part is kept."""
    from playwright.sync_api import Error

    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except Error:
            page.wait_for_timeout(500)
    page.screenshot(path=str(path))


def shot(page: Any, name: str) -> None:
    save_screenshot(page, ARTIFACTS / f"{name}.png")
