"""A real SMPP 3.4 peer on loopback for tests and the benchmark: an `smpp34` server in a thread
of its own, recording every `submit_sm`, answering with message ids, optionally sending
delivery receipts, and able to push inbound (MO) messages to the bound ESME.

Run standalone (for the crash test's dispatcher in another process, or by hand):
    python -m tests.integration.channels.smsc --port 2775 --record received.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import smpp34


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
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._counter = 0
        self._file = open(record, "a", encoding="utf-8") if record else None  # noqa: SIM115

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Smsc:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("SMSC did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        if self._file:
            self._file.close()

    def __enter__(self) -> Smsc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="TESTSMSC")
        await server.start()
        self._stop = asyncio.Event()
        self._ready.set()
        stopper = asyncio.ensure_future(self._stop.wait())
        tasks: set[asyncio.Task[Any]] = set()
        while True:
            nxt = asyncio.ensure_future(server.next())
            done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                nxt.cancel()
                break
            event = nxt.result()
            if isinstance(event, smpp34.Esme):
                self.sessions[event.session_id] = event
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._on_submit(event, tasks)
            elif isinstance(event, smpp34.Unbound):
                self.sessions.pop(event.session_id, None)
        await server.stop()

    def _on_submit(self, event: Any, tasks: set[asyncio.Task[Any]]) -> None:
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
            self._file.write(json.dumps({"id": message_id, "to": item.destination}) + "\n")
            self._file.flush()
        event.accept(message_id)
        if self.receipts and event.registered_delivery:
            esme = self.sessions.get(event.session_id)
            if esme is not None:
                task = asyncio.ensure_future(self._receipt(esme, item, self.receipts))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def _receipt(self, esme: Any, item: Received, stat: str) -> None:
        text = (
            f"id:{item.message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:2603020900 done date:2603020901 stat:{stat} err:000 text:"
        )
        await esme.deliver_sm(
            destination_addr="",
            short_message=text.encode(),
            source_addr=item.destination,
            esm_class=0x04,
        )

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
