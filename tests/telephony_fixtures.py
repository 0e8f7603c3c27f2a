"""Real SIP peers on loopback for telephony tests: `sipp` plays the borrower's (or contact's)
phone with a scenario from `tests/fixtures/sipp/`, baresip (through `BaresipDialer`) is the
agent's softphone, and a route table sends each number to the phone that should answer it.

    def test_x(sip_exchange):
        sip_exchange.route("+8613800000001", "no_answer")  # the borrower never answers
        sip_exchange.route("+8613900000002", "answer", hold_ms=20_000)  # the contact talks 20 s
        dialer = sip_exchange.dialer  # a Dialer for calls.place_call

Scenarios: `answer` (rings 0.5 s, answers, echoes the caller's audio, hangs up after `hold_ms`),
`no_answer` (rings until cancelled), `busy` (486), `reject` (rings 0.5 s, 603 Decline).
A number with no route goes to a port where nothing listens (the ring timeout ends it).
Import the fixtures into a test module or conftest: `from tests.telephony_fixtures import *`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arrears.channels.telephony.baresip import BaresipConfig, BaresipDialer, SipRoutes
from arrears.channels.telephony.recordings import RecordingStore

SCENARIOS = Path(__file__).parent / "fixtures" / "sipp"
SIPP = shutil.which("sipp")
BARESIP = shutil.which("baresip")
KAMAILIO = shutil.which("kamailio") or (
    "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
)
KAMAILIO_MODULES = next(
    (str(p) for p in Path("/usr/lib").glob("*/kamailio/modules") if p.is_dir()),
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
)

requires_sip = pytest.mark.skipif(
    SIPP is None or BARESIP is None,
    reason="needs sipp (Debian sip-tester) and baresip; .ci/run installs them",
)


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_udp_port(span: int = 1) -> int:
    """A loopback UDP port with `span` free ports from it (sipp's media takes a few)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + span < 65535 and all(_udp_free(port + i) for i in range(span)):
            return port
    raise RuntimeError("no free UDP port on loopback")


class SippPhone:
    """One sipp process playing a scenario on its own loopback port, for any number of calls."""

    def __init__(self, scenario: str, workdir: Path, hold_ms: int = 1000) -> None:
        if SIPP is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.scenario = scenario
        self.hold_ms = hold_ms
        self.port = free_udp_port()
        self.media_port = free_udp_port(span=4)
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                SIPP,
                "-sf", str(SCENARIOS / f"{scenario}.xml"),
                "-i", "127.0.0.1",
                "-p", str(self.port),
                "-mi", "127.0.0.1",
                "-mp", str(self.media_port),
                "-rtp_echo",
                "-d", str(hold_ms),
                "-nostdin",
                "-trace_err",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=workdir,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while _udp_free(self.port):  # until sipp holds its port
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"sipp {scenario} stopped at start: {err[-400:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sipp {scenario} did not open port {self.port}")
            time.sleep(0.05)

    @property
    def uri_template(self) -> str:
        return f"sip:{{number}}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


_KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:{port}
mpath="{modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        loose_route();
        t_relay();
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    record_route();
{routes}
    else {{ sl_send_reply("404", "No route"); exit; }}
    t_relay();
}}
"""


class KamailioProxy:
    """kamailio as the call centre's PBX: calls to it are relayed, by the number's prefix, to
    the phone (a `SippPhone`) behind it; an unknown number gets 404."""

    def __init__(self, workdir: Path, routes: dict[str, SippPhone]) -> None:
        if KAMAILIO is None:
            raise RuntimeError("kamailio is not installed")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        lines = [
            f'    {"if" if i == 0 else "else if"} ($rU =~ "^[+]?{prefix}") '
            f'{{ $du = "sip:127.0.0.1:{phone.port}"; }}'
            for i, (prefix, phone) in enumerate(routes.items())
        ]
        cfg = workdir / "kamailio.cfg"
        cfg.write_text(
            _KAMAILIO_CFG.format(port=self.port, modules=KAMAILIO_MODULES, routes="\n".join(lines))
        )
        self.log = workdir / "kamailio.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [KAMAILIO, "-f", str(cfg), "-DD", "-E", "-Y", str(workdir),
                 "-P", str(workdir / "kamailio.pid"), "-m", "32", "-M", "8"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while _udp_free(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("kamailio did not start: " + self.log.read_text()[-400:])
            time.sleep(0.05)

    @property
    def uri_template(self) -> str:
        return f"sip:{{number}}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class SipExchange:
    """sipp phones behind a route table, and a baresip dialler that dials through it."""

    def __init__(self, workdir: Path, ring_seconds: float = 30.0) -> None:
        self.workdir = workdir
        self.phones: dict[tuple[str, int], SippPhone] = {}
        # nothing listens on the default route: a number without a route rings out
        self.routes = SipRoutes(f"sip:{{number}}@127.0.0.1:{free_udp_port()}")
        self.recordings = RecordingStore(workdir / "recordings")
        self.dialer = BaresipDialer(
            self.routes, self.recordings, BaresipConfig(work_dir=workdir / "softphones")
        )

    def phone(self, scenario: str, hold_ms: int = 1000) -> SippPhone:
        key = (scenario, hold_ms if scenario == "answer" else 0)
        if key not in self.phones:
            self.phones[key] = SippPhone(
                scenario, self.workdir / f"sipp-{scenario}-{key[1]}", hold_ms=key[1] or 1000
            )
        return self.phones[key]

    def route(self, number_prefix: str, scenario: str, hold_ms: int = 1000) -> SippPhone:
        """Calls to numbers starting with `number_prefix` reach a phone playing `scenario`."""
        phone = self.phone(scenario, hold_ms)
        self.routes.add(SipRoutes.normalise(number_prefix), phone.uri_template)
        return phone

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.dialer.close()
        for phone in self.phones.values():
            phone.stop()


@pytest.fixture
def sip_exchange(tmp_path: Path) -> Iterator[SipExchange]:
    """sipp phones + a baresip dialler on loopback; see the module's docstring."""
    if SIPP is None or BARESIP is None:
        pytest.skip("needs sipp (Debian sip-tester) and baresip; .ci/run installs them")
    exchange = SipExchange(tmp_path / "sip")
    try:
        yield exchange
    finally:
        exchange.close()


__all__ = [
    "SCENARIOS",
    "KamailioProxy",
    "SipExchange",
    "SippPhone",
    "free_udp_port",
    "requires_sip",
    "sip_exchange",
]
