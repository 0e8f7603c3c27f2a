"""The reference dialler: the agent's softphone is baresip, driven over its `ctrl_tcp` interface.

One baresip process per agent line, started on the agent's first call with a generated
configuration directory:

- SIP on a loopback (or configured) UDP port, one account `sip:<agent>@<host>` without
  registration; calls go to the SIP URI the route table makes of the number (`SipRoutes`):
  `sip:{number}@127.0.0.1:5070`, a proxy or a carrier trunk per number prefix. The number stays
  in this process and baresip's; it never reaches the browser.
- audio: a tone source (`ausine`) stands in for the agent's headset on a server, the player is
  a null bridge (`aubridge`); `sndfile` writes both directions of the call to WAV files, which
  are mixed into one stereo recording (agent left, far end right) and handed to the
  `RecordingStore`.
- control: `ctrl_tcp` speaks netstring-framed JSON: commands
  `{"command": "dial", "params": "<uri>", "token": "…"}` and `hangup`; events
  `{"event": true, "type": "CALL_RINGING" | "CALL_ESTABLISHED" | "CALL_CLOSED", "param": …}`.

Outcome: CALL_ESTABLISHED seen → answered; we cancelled at the ring timeout → no answer; else
from CALL_CLOSED's reason ("486 Busy Here" → busy, "603 Decline" → rejected, 408/480/487 → no
answer, anything else → failed). Timestamps are taken when the events arrive (this adapter is an
edge: it reads the clock it is given).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import wave
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arrears.channels.telephony.port import (
    CallHandle,
    CallOutcome,
    CallRequest,
    CallResult,
    CallUnknown,
    DialerBusy,
    DialerUnavailable,
    OnCallEnd,
    outcome_of_sip,
)
from arrears.channels.telephony.recordings import RecordingStore, mix_stereo

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SipRouteInvalid(ValueError):
    pass


class NumberInvalid(ValueError):
    def __init__(self) -> None:
        super().__init__(
            "the number to call has no digits; correct the borrower's or contact's number"
        )


@dataclass
class SipRoutes:
    """Number → SIP URI. The longest matching prefix's template wins, else `default`.
    Templates take `{number}` (digits, a leading + kept):

        SipRoutes("sip:{number}@pbx.example.cn", [("0", "sip:{number}@trunk-a.example.cn")])

    Text form (settings): `default` or `prefix=template;prefix=template;*=default`."""

    default: str = "sip:{number}@127.0.0.1:5070"
    routes: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for _prefix, template in [("*", self.default), *self.routes]:
            if "{number}" not in template or not template.startswith(("sip:", "sips:")):
                raise SipRouteInvalid(
                    f"route template {template!r} must be a sip: URI with {{number}} in it"
                )

    @classmethod
    def parse(cls, text: str) -> SipRoutes:
        default = cls.default
        routes: list[tuple[str, str]] = []
        for part in (p.strip() for p in text.split(";")):
            if not part:
                continue
            if "=" in part and not part.startswith(("sip:", "sips:")):
                prefix, _, template = part.partition("=")
                if prefix.strip() in ("*", ""):
                    default = template.strip()
                else:
                    routes.append((prefix.strip(), template.strip()))
            else:
                default = part
        return cls(default, routes)

    def add(self, prefix: str, template: str) -> None:
        self.routes.append((prefix, template))
        self.__post_init__()

    @staticmethod
    def normalise(number: str) -> str:
        digits = re.sub(r"\D", "", number)
        if not digits:
            raise NumberInvalid()
        return ("+" if number.strip().startswith("+") else "") + digits

    def uri_for(self, number: str) -> str:
        n = self.normalise(number)
        bare = n.lstrip("+")
        best = max(
            (r for r in self.routes if n.startswith(r[0]) or bare.startswith(r[0])),
            key=lambda r: len(r[0]),
            default=None,
        )
        return (best[1] if best else self.default).format(number=n)


@dataclass(frozen=True)
class BaresipConfig:
    binary: str = "baresip"
    module_path: str = "/usr/lib/baresip/modules"
    host: str = "127.0.0.1"  # the address baresip binds SIP, RTP and ctrl_tcp to
    work_dir: Path | None = None  # per-agent config dirs; a temporary dir when None
    audio_source: str = "ausine,440"
    account_params: str = ";regint=0"  # e.g. ";auth_user=1001;outbound=\"sip:pbx:5060\""
    start_timeout: float = 10.0
    extra_config: Mapping[str, str] = field(default_factory=dict)
    # baresip's console names the URIs it dials: kept in memory (last lines, numbers masked, for
    # error messages) unless a log file is asked for, for debugging, on the server only
    log_file: bool = False


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_sip_port() -> int:
    """A port free for SIP over both UDP and TCP (baresip listens on both)."""
    for _ in range(50):
        port = _free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise DialerUnavailable("no free loopback port for the softphone's SIP transport")


def _netstring(obj: Mapping[str, Any]) -> bytes:
    body = json.dumps(obj).encode()
    return str(len(body)).encode() + b":" + body + b","


def _safe_user(agent: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", agent) or "agent"


@dataclass
class _Call:
    request: CallRequest
    on_end: OnCallEnd | None
    started_at: datetime
    answered_at: datetime | None = None
    bid: str | None = None  # baresip's call id
    we_hung_up: str | None = None  # why we hung up: "ring timeout", "hung up by the agent"
    timer: threading.Timer | None = None
    finishing: bool = False


class _Softphone:
    """One baresip process: one agent's line, one call at a time."""

    def __init__(self, owner: BaresipDialer, agent: str, directory: Path) -> None:
        self.owner = owner
        self.agent = agent
        self.dir = directory
        self.rec = directory / "rec"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.call: _Call | None = None
        self.responses: dict[str, dict[str, Any]] = {}
        self.cond = threading.Condition(self.lock)
        self.alive = False
        self.tail: deque[str] = deque(maxlen=20)

    # --- process -----------------------------------------------------------------------------
    def start(self) -> None:
        # a port found free can be taken by another process before baresip binds it: try again
        for attempt in range(3):
            try:
                self._start_once()
                return
            except DialerUnavailable as exc:
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise

    def _start_once(self) -> None:
        cfg = self.owner.config
        self.dir.mkdir(parents=True, exist_ok=True)
        # sndfile builds its file names in a 128-byte buffer ("<snd_path>/dump-<time>-enc.wav"):
        # a deep configuration directory would cut the names short, so the two sides of a call
        # are spooled in a short temporary directory and moved to the store when the call ends
        self.rec = Path(tempfile.mkdtemp(prefix="arrears-rec-"))
        if len(str(self.rec)) + len("/dump-2026-01-01-00-00-00-enc.wav") >= 128:
            raise DialerUnavailable(
                f"the temporary directory {tempfile.gettempdir()!r} is too deep for baresip's "
                "recorder; set TMPDIR to a short path such as /tmp"
            )
        sip_port, ctrl_port = _free_sip_port(), _free_port(socket.SOCK_STREAM)
        user = _safe_user(self.agent)
        lines = {
            "poll_method": "epoll",
            "sip_listen": f"{cfg.host}:{sip_port}",
            "net_interface": cfg.host,
            "audio_source": cfg.audio_source,
            "ausrc_srate": "48000",
            "ausrc_channels": "2",
            "audio_player": f"aubridge,{user}-play",
            "audio_alert": f"aubridge,{user}-alert",
            "module_path": cfg.module_path,
            "ctrl_tcp_listen": f"{cfg.host}:{ctrl_port}",
            "snd_path": str(self.rec),
            **cfg.extra_config,
        }
        text = "".join(f"{k}\t{v}\n" for k, v in lines.items())
        text += "".join(f"module\t{m}.so\n" for m in ("g711", "ausine", "aubridge", "sndfile"))
        text += "".join(f"module_app\t{m}.so\n" for m in ("account", "menu", "ctrl_tcp"))
        (self.dir / "config").write_text(text)
        (self.dir / "accounts").write_text(f"<sip:{user}@{cfg.host}>{cfg.account_params}\n")
        (self.dir / "contacts").write_text("")
        try:
            self.proc = subprocess.Popen(
                [cfg.binary, "-f", str(self.dir)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        except OSError as exc:
            raise DialerUnavailable(f"cannot start the softphone {cfg.binary!r}: {exc}") from exc
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + cfg.start_timeout
        while True:
            if self.proc.poll() is not None:
                why = self.log_tail()
                self.stop()
                raise DialerUnavailable(
                    f"the softphone stopped at start (exit {self.proc.returncode}): {why}"
                )
            try:
                self.sock = socket.create_connection((cfg.host, ctrl_port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    why = self.log_tail()
                    self.stop()
                    raise DialerUnavailable(
                        f"the softphone's control port did not open: {why}"
                    ) from None
                time.sleep(0.05)
        self.sock.settimeout(None)
        self.alive = True
        threading.Thread(target=self._read, name=f"baresip-{user}", daemon=True).start()

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        """Read baresip's console so it never blocks; keep the last lines for error messages."""
        sink = (self.dir / "baresip.log").open("ab") if self.owner.config.log_file else None
        try:
            stdout = proc.stdout
            assert stdout is not None
            for raw in iter(stdout.readline, b""):
                if sink is not None:
                    sink.write(raw)
                    sink.flush()
                text = re.sub(r"\x1b\[[0-9;]*m", "", raw.decode(errors="replace"))
                line = text.rsplit("\r", 1)[-1].strip()
                if line:
                    self.tail.append(line)
        finally:
            if sink is not None:
                sink.close()

    def log_tail(self) -> str:
        """baresip's last words, digit runs masked (they may be a number dialled)."""
        time.sleep(0.1)  # let the console reader catch up with an exiting process
        return re.sub(r"\d{6,}", "******", " | ".join(self.tail))[-400:]

    def stop(self) -> None:
        self.alive = False
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.rec, ignore_errors=True)

    # --- control -------------------------------------------------------------------------------
    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        token = uuid.uuid4().hex
        sock = self.sock
        if sock is None or not self.alive:
            raise DialerUnavailable(f"the softphone of {self.agent!r} is not running")
        try:
            sock.sendall(_netstring({"command": command, "params": params, "token": token}))
        except OSError as exc:
            raise DialerUnavailable(f"the softphone of {self.agent!r} stopped: {exc}") from exc
        with self.cond:
            if not self.cond.wait_for(lambda: token in self.responses or not self.alive, timeout):
                raise DialerUnavailable(f"the softphone did not answer {command!r} in {timeout} s")
            if token not in self.responses:
                raise DialerUnavailable(f"the softphone of {self.agent!r} stopped")
            return self.responses.pop(token)

    def _read(self) -> None:
        buf = b""
        sock = self.sock
        assert sock is not None
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while True:
                head, sep, rest = buf.partition(b":")
                if not sep or not head.isdigit():
                    break
                size = int(head)
                if len(rest) < size + 1:
                    break
                body, buf = rest[:size], rest[size + 1 :]
                try:
                    message = json.loads(body)
                except ValueError:
                    continue
                self._handle(message)
        with self.cond:
            self.alive = False
            self.cond.notify_all()
            call = self.call
        if call is not None:
            self._finish(call, "softphone stopped", closed=True)

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("response"):
            with self.cond:
                self.responses[str(message.get("token"))] = message
                self.cond.notify_all()
            return
        if not message.get("event") or message.get("class") != "call":
            return
        kind = str(message.get("type"))
        with self.lock:
            call = self.call
            if call is None:
                return
            bid = message.get("id")
            if call.bid is None and bid:
                call.bid = str(bid)
            elif bid and call.bid != bid:
                return  # a late event of an earlier call
            if kind == "CALL_ESTABLISHED" and call.answered_at is None:
                call.answered_at = self.owner.clock()
                if call.timer is not None:
                    call.timer.cancel()
                return
        if kind == "CALL_CLOSED":
            reason = str(message.get("param") or "")
            threading.Thread(target=self._finish, args=(call, reason), daemon=True).start()

    # --- calls ---------------------------------------------------------------------------------
    def dial(self, request: CallRequest, on_end: OnCallEnd | None) -> CallHandle:
        with self.lock:
            if self.call is not None:
                raise DialerBusy(self.agent)
            for stale in self.rec.glob("dump-*"):
                stale.unlink()
            call = _Call(request, on_end, self.owner.clock())
            self.call = call
        handle = CallHandle(request.call_id, self.agent, call.started_at)
        try:
            response = self.command("dial", request.target)
        except DialerUnavailable as exc:
            self._finish(call, str(exc), closed=True)
            return handle
        if not response.get("ok"):
            self._finish(call, str(response.get("data") or "dial refused").strip(), closed=True)
            return handle
        timer = threading.Timer(request.max_ring_seconds, self._ring_timeout, args=(call,))
        timer.daemon = True
        with self.lock:
            if self.call is call and call.answered_at is None:
                call.timer = timer
                timer.start()
        return handle

    def _ring_timeout(self, call: _Call) -> None:
        with self.lock:
            if self.call is not call or call.answered_at is not None:
                return
            call.we_hung_up = "ring timeout"
        with contextlib.suppress(DialerUnavailable):
            self.command("hangup")

    def hangup(self, call_id: str) -> None:
        with self.lock:
            call = self.call
            if call is None or call.request.call_id != call_id:
                return
            call.we_hung_up = call.we_hung_up or "hung up by the agent"
        with contextlib.suppress(DialerUnavailable):
            self.command("hangup")

    def _finish(self, call: _Call, reason: str, *, closed: bool = True) -> None:
        with self.lock:
            if self.call is not call or call.finishing:
                return
            call.finishing = True
            if call.timer is not None:
                call.timer.cancel()
        ended = self.owner.clock()
        outcome = outcome_of_sip(
            reason,
            established=call.answered_at is not None,
            cancelled_for_timeout=call.we_hung_up is not None,
        )
        if reason.startswith("softphone stopped") and call.answered_at is None:
            outcome = CallOutcome.FAILED
        if call.we_hung_up and call.answered_at is None:
            reason = call.we_hung_up
        recording = None
        if call.answered_at is not None:
            try:
                recording = self.owner.collect_recording(self.rec, call.request.call_id, ended)
            except Exception:  # the call's end must still be told: without its recording
                log.exception("the recording of call %s could not be kept", call.request.call_id)
                reason = (reason + "; recording lost").lstrip("; ")
        result = CallResult(
            call_id=call.request.call_id,
            outcome=outcome,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=ended,
            reason=reason,
            recording=recording,
        )
        with self.lock:
            self.call = None
        self.owner.publish(result, call.on_end)


class BaresipDialer:
    """The `Dialer` on baresip softphones (one per agent, started on first use)."""

    name = "baresip"

    def __init__(
        self,
        routes: SipRoutes,
        recordings: RecordingStore,
        config: BaresipConfig | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.routes = routes
        self.recordings = recordings
        self.config = config or BaresipConfig()
        self.clock = clock
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.config.work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="arrears-baresip-")
            self.work_dir = Path(self._tmp.name)
        else:
            self.work_dir = self.config.work_dir
        self.phones: dict[str, _Softphone] = {}
        self.results: dict[str, CallResult] = {}
        self.calls: dict[str, _Softphone] = {}
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self._finalizer = weakref.finalize(
            self, BaresipDialer._shutdown, self.lock, self.phones, self._tmp
        )

    def uri_for(self, number: str) -> str:
        return self.routes.uri_for(number)

    def _phone(self, agent: str) -> _Softphone:
        with self.lock:
            phone = self.phones.get(agent)
            if phone is not None and phone.alive:
                return phone
            if phone is not None:
                phone.stop()
            digest = hashlib.sha256(agent.encode()).hexdigest()[:8]
            phone = _Softphone(self, agent, self.work_dir / f"{_safe_user(agent)}-{digest}")
            self.phones[agent] = phone
        phone.start()
        return phone

    def dial(self, request: CallRequest, on_end: OnCallEnd | None = None) -> CallHandle:
        """Dial `request.target`: a SIP URI as given, a number through the route table."""
        if not request.target.startswith(("sip:", "sips:")):
            request = replace(request, target=self.routes.uri_for(request.target))
        phone = self._phone(request.agent)
        with self.lock:
            if request.call_id in self.calls:
                raise ValueError(f"call {request.call_id!r} was dialled already")
            self.calls[request.call_id] = phone
        return phone.dial(request, on_end)

    def hangup(self, call_id: str) -> None:
        with self.lock:
            phone = self.calls.get(call_id)
        if phone is None:
            raise CallUnknown(call_id)
        phone.hangup(call_id)

    def result(self, call_id: str) -> CallResult | None:
        with self.lock:
            if call_id not in self.calls:
                raise CallUnknown(call_id)
            return self.results.get(call_id)

    def wait(self, call_id: str, timeout: float | None = None) -> CallResult | None:
        with self.done:
            if call_id not in self.calls:
                raise CallUnknown(call_id)
            self.done.wait_for(lambda: call_id in self.results, timeout)
            return self.results.get(call_id)

    def publish(self, result: CallResult, on_end: OnCallEnd | None) -> None:
        with self.done:
            self.results[result.call_id] = result
            self.done.notify_all()
        if on_end is not None:
            on_end(result)

    def collect_recording(self, rec: Path, call_id: str, at: datetime) -> Any:
        """The call's two sides (sndfile's `…-enc.wav`, `…-dec.wav`) once baresip closed them,
        mixed and stored; None when the call carried no audio."""
        deadline = time.monotonic() + 3.0
        enc = dec = None
        while time.monotonic() < deadline:
            enc = next(iter(sorted(rec.glob("dump-*-enc.wav"))), None)
            dec = next(iter(sorted(rec.glob("dump-*-dec.wav"))), None)
            if enc is not None and dec is not None and _closed(enc) and _closed(dec):
                break
            time.sleep(0.05)
        sides = [p if p is not None and _closed(p) else None for p in (enc, dec)]
        if sides == [None, None]:
            log.warning(
                "call %s was answered but left no recording: %s",
                call_id,
                [(p.name, p.stat().st_size) for p in rec.iterdir()],
            )
            return None
        mixed = rec / f"{uuid.uuid4().hex}.mix"
        mix_stereo(sides[0], sides[1], mixed)
        for p in (enc, dec):
            if p is not None:
                p.unlink(missing_ok=True)
        return self.recordings.put(call_id, mixed, at)

    def close(self) -> None:
        self._finalizer()

    @staticmethod
    def _shutdown(
        lock: threading.Lock,
        phones: dict[str, _Softphone],
        tmp: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        """Stop every softphone (also when the process exits without closing the dialler: no
        baresip is left running behind the platform)."""
        with lock:
            running = list(phones.values())
            phones.clear()
        for phone in running:
            phone.stop()
        if tmp is not None:
            tmp.cleanup()

    def __enter__(self) -> BaresipDialer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _closed(path: Path) -> bool:
    """sndfile writes the WAV header's sizes when it closes the file."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() > 0
    except (EOFError, wave.Error, OSError):
        return False
