"""A real SMPP 3.4 peer on loopback for tests and the benchmark: an `smpp34` server in a thread
of its own, recording every `submit_sm`, answering with message ids, optionally sending
delivery receipts, and able to push inbound (MO) messages to the bound ESME.

Run standalone (for the crash test's dispatcher in another process, or by hand):
    python -m tests.integration.channels.smsc --port 2775 --record received.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import smpp34


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: its cross-thread wake-ups (every SMPP event crosses from
    the Rust core) cost the SMSC about half of asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _ignore_failure(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    message_id: str
    destination: str
    data_coding: int
    esm_class: int
    payload: bytes

    def text(self) -> str:
        body = self.payload[6:] if self.esm_class & 0x40 else self.payload
        return body.decode("utf-16-be") if self.data_coding == 8 else body.decode("latin-1")


class Smsc:
    def __init__(
        self,
        port: int | None = None,
        *,
        receipts: str | None = None,  # None | "DELIVRD" | "UNDELIV"
        reject: dict[str, int] | None = None,  # destination -> command_status
        record: str | None = None,  # append one JSON line per submit_sm (cross-process)
    ) -> None:
        self.port = port or free_port()
        self.receipts = receipts
        self.reject = reject or {}
        self.record = record
        self.received: list[Received] = []
        self.sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._serving: asyncio.Task[None] | None = None
        self._counter = 0
        self._file = open(record, "a", encoding="utf-8") if record else None  # noqa: SIM115

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Smsc:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("SMSC did not start")
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._loop.call_soon_threadsafe(self._serving.cancel)
        self._thread.join(10)
        if self._file:
            self._file.close()

    def __enter__(self) -> Smsc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._serving = self._loop.create_task(self._serve())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._serving)

    async def _serve(self) -> None:
        # one plain `await` per event: the SMSC's own Python is most of what a part costs it
        server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="TESTSMSC")
        await server.start()
        self._ready.set()
        try:
            while True:
                event = await server.next()
                if isinstance(event, smpp34.SubmitSmEvent):
                    self._on_submit(event)
                elif isinstance(event, smpp34.Esme):
                    self.sessions[event.session_id] = event
                elif isinstance(event, smpp34.Unbound):
                    self.sessions.pop(event.session_id, None)
        finally:
            await server.stop()

    def _on_submit(self, event: Any) -> None:
        status = self.reject.get(event.destination_addr)
        if status is not None:
            event.reject(status)
            return
        self._counter += 1
        message_id = f"m{self._counter:08d}"
        item = Received(
            message_id,
            event.destination_addr,
            event.data_coding,
            event.esm_class,
            bytes(event.short_message),
        )
        with self._lock:
            self.received.append(item)
        if self._file:
            self._file.write(f'{{"id": "{message_id}", "to": "{item.destination}"}}\n')
            self._file.flush()
        event.accept(message_id)
        if self.receipts and event.registered_delivery:
            esme = self.sessions.get(event.session_id)
            if esme is not None:
                self._receipt(esme, item, self.receipts)

    def _receipt(self, esme: Any, item: Received, stat: str) -> None:
        text = (
            f"id:{item.message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:2603020900 done date:2603020901 stat:{stat} err:000 text:"
        )
        sent = esme.deliver_sm(
            destination_addr="",
            short_message=text.encode(),
            source_addr=item.destination,
            esm_class=0x04,
        )
        # a receipt to a session that has gone fails; nobody waits for it
        asyncio.ensure_future(sent).add_done_callback(_ignore_failure)

    # -- test helpers ----------------------------------------------------------------------------

    def send_mo(self, sender: str, text: str) -> Any:
        """An inbound message from a handset to every bound ESME; returns a future (the ESME
        must read for the push to complete)."""

        async def push() -> None:
            for esme in list(self.sessions.values()):
                coding = 8 if any(ord(ch) > 127 for ch in text) else 0
                payload = text.encode("utf-16-be") if coding == 8 else text.encode()
                await esme.deliver_sm(
                    destination_addr="106900001234",
                    short_message=payload,
                    source_addr=sender,
                    data_coding=coding,
                )

        return asyncio.run_coroutine_threadsafe(push(), self._loop)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.destination for r in self.received)

    def messages_to(self, destination: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.destination == destination]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--record")
    parser.add_argument("--receipts")
    args = parser.parse_args()
    smsc = Smsc(args.port, record=args.record, receipts=args.receipts).start()
    print(f"SMSC on 127.0.0.1:{smsc.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        smsc.stop()


if __name__ == "__main__":
    main()
