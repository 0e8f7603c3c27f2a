"""SMS over SMPP 3.4 (smpplib): a transceiver bind, windowed `submit_sm` with UCS-2 and UDH
concatenation, reconnect with back-off, delivery receipts and inbound messages (`deliver_sm`).

One message's fate per outcome: every part acknowledged -> Accepted (one provider id per part);
no part written -> ChannelUnavailable (safe to retry); a part written but not acknowledged when
the connection dropped -> DeliveryUncertain (never retried blindly).
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import smpplib.client
import smpplib.consts as c
import smpplib.exceptions

from arrears.channels.base import (
    Accepted,
    ChannelError,
    ChannelEvent,
    ChannelUnavailable,
    DeliveryReceipt,
    DeliveryUncertain,
    InboundMessage,
    MessageRejected,
    OutgoingMessage,
    ReceiptState,
    SendOutcome,
)
from arrears.channels.sms_text import decode, decorate, parts_for

log = logging.getLogger(__name__)

# command_status values that mean "try again later" rather than "this message is bad"
TRANSIENT_STATUS = frozenset(
    {c.SMPP_ESME_RMSGQFUL, c.SMPP_ESME_RTHROTTLED, c.SMPP_ESME_RSYSERR, 0x00000064}
)
DELIVERED_STATES = {"DELIVRD": ReceiptState.DELIVERED, "ACCEPTD": ReceiptState.DELIVERED}
FAILED_STATES = {"UNDELIV", "REJECTD", "EXPIRED", "DELETED", "UNKNOWN"}
_TLV_STATES = {2: ReceiptState.DELIVERED, 3: ReceiptState.FAILED, 5: ReceiptState.FAILED,
               8: ReceiptState.FAILED, 4: ReceiptState.FAILED}  # fmt: skip
_RECEIPT = re.compile(r"id:(?P<id>\S+).*?stat:(?P<stat>[A-Z]+)(?:.*?err:(?P<err>\w+))?", re.S)


def _cstr(value: str) -> bytes:
    return value.encode("ascii") + b"\x00"


def encode_submit_sm(
    sequence: int,
    *,
    source_addr: str,
    source_addr_ton: int,
    destination_addr: str,
    short_message: bytes,
    data_coding: int,
    esm_class: int,
    registered_delivery: int,
    source_addr_npi: int = c.SMPP_NPI_UNK,
    dest_addr_ton: int = c.SMPP_TON_INTL,
    dest_addr_npi: int = c.SMPP_NPI_ISDN,
) -> bytes:
    """A submit_sm PDU, byte for byte what smpplib generates for the same fields (checked in
    tests/unit/channels), without its per-field reflection: the hot path of a large send."""
    body = b"".join(
        (
            b"\x00",  # service_type ""
            struct.pack(">BB", source_addr_ton, source_addr_npi),
            _cstr(source_addr),
            struct.pack(">BB", dest_addr_ton, dest_addr_npi),
            _cstr(destination_addr),
            struct.pack(">BBB", esm_class, 0, 0),  # esm_class, protocol_id, priority_flag
            b"\x00\x00",  # schedule_delivery_time, validity_period
            struct.pack(">BBBBB", registered_delivery, 0, data_coding, 0, len(short_message)),
            short_message,
        )
    )
    return struct.pack(">LLLL", 16 + len(body), 0x00000004, 0, sequence) + body


class _BufferedReader:
    """Reads the socket in large chunks for smpplib (which otherwise makes two `recv` calls per
    PDU); `pending()` tells whether a whole PDU is already buffered."""

    def __init__(self, client: smpplib.client.Client) -> None:
        self.client = client
        self.buf = bytearray()

    def recv_exact(self, size: int) -> bytes:
        while len(self.buf) < size:
            sock = self.client._socket
            if sock is None:
                raise smpplib.exceptions.ConnectionError()
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as exc:
                raise smpplib.exceptions.ConnectionError() from exc
            if not chunk:
                raise smpplib.exceptions.ConnectionError()
            self.buf += chunk
        out = bytes(self.buf[:size])
        del self.buf[:size]
        return out

    def pending(self) -> bool:
        return len(self.buf) >= 4 and len(self.buf) >= struct.unpack(">L", self.buf[:4])[0]

    def take(self) -> bytes:
        """The next whole PDU (waits for the socket as `recv_exact` does)."""
        head = self.recv_exact(4)
        length = struct.unpack(">L", head)[0]
        if length < 16:
            raise smpplib.exceptions.PDUError("Broken PDU")
        return head + self.recv_exact(length - 4)

    def unread(self, pdu: bytes) -> None:
        self.buf[:0] = pdu


SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
_TLV_RECEIPTED_MESSAGE_ID = 0x001E
_TLV_MESSAGE_STATE = 0x0427


def _cstring(pdu: bytes, at: int) -> tuple[bytes, int]:
    end = pdu.index(b"\x00", at)
    return pdu[at:end], end + 1


def parse_receipt_pdu(pdu: bytes) -> tuple[bytes, bytes | None, int | None] | None:
    """(short_message, receipted_message_id, message_state) of a deliver_sm that is a delivery
    receipt, read straight from the bytes; None for anything else (smpplib reads those)."""
    at = 16
    _, at = _cstring(pdu, at)  # service_type
    _, at = _cstring(pdu, at + 2)  # source_addr (after its ton and npi)
    _, at = _cstring(pdu, at + 2)  # destination_addr
    esm_class = pdu[at]
    if esm_class & 0x3C != 0x04:
        return None
    _, at = _cstring(pdu, at + 3)  # schedule_delivery_time (after esm, protocol, priority)
    _, at = _cstring(pdu, at)  # validity_period
    sm_length = pdu[at + 4]  # after registered_delivery, replace, data_coding, default id
    at += 5
    short_message = pdu[at : at + sm_length]
    if len(short_message) != sm_length:
        raise ValueError("short PDU")
    at += sm_length
    receipted: bytes | None = None
    state: int | None = None
    while at + 4 <= len(pdu):
        tag, size = struct.unpack_from(">HH", pdu, at)
        value = pdu[at + 4 : at + 4 + size]
        if tag == _TLV_RECEIPTED_MESSAGE_ID:
            receipted = value.rstrip(b"\x00")
        elif tag == _TLV_MESSAGE_STATE and size == 1:
            state = value[0]
        at += 4 + size
    return short_message, receipted, state


class SmppBindRefused(ChannelUnavailable):
    """The SMSC refused the bind (wrong system id or password): fix the channels file."""


@dataclass
class SmppSettings:
    host: str
    port: int
    system_id: str
    password: str
    source_addr: str = ""
    window: int = 64
    signature: Mapping[str, str] = field(default_factory=dict)
    contact_signature: Mapping[str, str] | None = None
    opt_out: Mapping[str, str] = field(default_factory=dict)
    registered_delivery: bool = True
    timeout: float = 10.0
    reconnect_attempts: int = 3
    reconnect_backoff: float = 0.5
    system_type: str = ""


def text_for(msg: OutgoingMessage, settings: SmppSettings) -> str:
    """The exact text sent: signature + body + opt-out phrase (segments follow from it)."""
    signatures = (
        settings.contact_signature
        if msg.audience == "contact" and settings.contact_signature is not None
        else settings.signature
    )
    return decorate(
        msg.body, signatures.get(msg.language), settings.opt_out.get(msg.language), msg.language
    )


@dataclass
class _Pending:
    index: int  # message index in the batch
    part: int


class SmppChannel:
    resend_safe = False

    def __init__(
        self,
        settings: SmppSettings,
        *,
        name: str = "sms",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self.sleep = sleep
        self.client: smpplib.client.Client | None = None
        self._events: list[ChannelEvent] = []
        self._inflight: dict[int, _Pending] = {}
        self._acks: dict[int, tuple[int, str]] = {}  # sequence -> (status, message id)
        self._outstanding: set[int] = set()
        self._reader: _BufferedReader | None = None
        self._replies: list[bytes] = []  # deliver_sm_resp to write with the next submits

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        last: Exception | None = None
        for attempt in range(self.settings.reconnect_attempts):
            if attempt:
                self.sleep(self.settings.reconnect_backoff * 2 ** (attempt - 1))
            client = smpplib.client.Client(
                self.settings.host,
                self.settings.port,
                timeout=self.settings.timeout,
                allow_unknown_opt_params=True,
            )
            client.set_message_sent_handler(self._on_submit_resp)
            client.set_message_received_handler(self._on_deliver)
            client.set_error_pdu_handler(self._on_error_pdu)
            reader = _BufferedReader(client)
            client._recv_exact = reader.recv_exact
            try:
                client.connect()
                client.bind_transceiver(
                    system_id=self.settings.system_id,
                    password=self.settings.password,
                    system_type=self.settings.system_type,
                )
            except smpplib.exceptions.PDUError as exc:
                _drop(client)
                status = exc.args[1] if len(exc.args) > 1 else None
                if status in (c.SMPP_ESME_RINVPASWD, c.SMPP_ESME_RINVSYSID, c.SMPP_ESME_RBINDFAIL):
                    raise SmppBindRefused(
                        f"SMSC {self.settings.host}:{self.settings.port} refused the bind of "
                        f"{self.settings.system_id!r} ({exc.args[0]}); check system_id/password"
                    ) from exc
                last = exc
                continue
            except (OSError, smpplib.exceptions.ConnectionError) as exc:
                _drop(client)
                last = exc
                continue
            self.client = client
            self._reader = reader
            self._replies.clear()  # answers owed to an earlier session go nowhere
            return
        raise ChannelUnavailable(
            f"cannot bind to SMSC {self.settings.host}:{self.settings.port} after "
            f"{self.settings.reconnect_attempts} attempts: {last!r}"
        )

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the peer may already be gone
                self.client.unbind()
            _drop(self.client)
            self.client = None

    def flush(self) -> None:
        pass

    # -- handlers -----------------------------------------------------------------------------

    def _on_submit_resp(self, pdu: Any, **_: Any) -> None:
        message_id = pdu.message_id
        if isinstance(message_id, bytes):
            message_id = message_id.decode("ascii", "replace")
        self._acks[pdu.sequence] = (pdu.status, message_id or "")
        self._outstanding.discard(pdu.sequence)

    def _on_error_pdu(self, pdu: Any) -> None:
        if pdu.command == "submit_sm_resp":
            self._acks[pdu.sequence] = (pdu.status, "")
            self._outstanding.discard(pdu.sequence)
        else:
            log.warning("SMPP error PDU %s status %s", pdu.command, pdu.status)

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        if getattr(pdu, "command", "") != "deliver_sm":
            return int(c.SMPP_ESME_ROK)
        raw = pdu.short_message or b""
        if isinstance(raw, str):
            raw = raw.encode("latin-1")
        source = pdu.source_addr.decode() if isinstance(pdu.source_addr, bytes) else pdu.source_addr
        if pdu.esm_class & 0x3C == 0x04:  # SMSC delivery receipt
            self._events.append(
                self._receipt(
                    raw,
                    getattr(pdu, "receipted_message_id", None),
                    getattr(pdu, "message_state", None),
                )
            )
        else:
            self._events.append(
                InboundMessage(self.name, str(source), decode(raw, pdu.data_coding))
            )
        return int(c.SMPP_ESME_ROK)

    def _receipt(self, raw: bytes, provider_id: Any, state_tlv: Any) -> DeliveryReceipt:
        text = raw.decode("latin-1", "replace")
        match = _RECEIPT.search(text)
        if isinstance(provider_id, bytes):
            provider_id = provider_id.decode()
        if match:
            provider_id = provider_id or match["id"]
            stat = match["stat"]
            state = DELIVERED_STATES.get(stat, ReceiptState.FAILED)
            reason = None if state is ReceiptState.DELIVERED else f"{stat} err:{match['err']}"
        elif state_tlv in _TLV_STATES:
            state = _TLV_STATES[state_tlv]
            reason = None if state is ReceiptState.DELIVERED else f"message_state {state_tlv}"
        else:
            state, reason = ReceiptState.FAILED, f"unreadable receipt {text[:60]!r}"
        return DeliveryReceipt(self.name, str(provider_id or ""), state, reason)

    # -- sending ------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Read what the SMSC has sent (receipts, MO, unbind); a closed peer drops the client,
        so a dead connection is noticed before a batch is written to it."""
        if self.client is None:
            return
        client = self.client
        try:
            while (self._reader is not None and self._reader.pending()) or (
                client._socket is not None and select.select([client._socket], [], [], 0)[0]
            ):
                self._read_one(client)
            self._write(client, [])
        except (OSError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError):
            _drop(client)
            self.client = None

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        self._pump()
        if self.client is None:
            try:
                self.connect()
            except ChannelError as exc:
                return [exc] * len(messages)
        client = self.client
        assert client is not None
        window = max(1, self.settings.window)
        plans = [
            parts_for(text_for(m, self.settings), reference=m.outbox_id & 0xFF) for m in messages
        ]
        written: list[list[int]] = [[] for _ in messages]  # sequences written per message
        self._acks.clear()
        outstanding = self._outstanding
        outstanding.clear()
        broken: Exception | None = None
        ton = c.SMPP_TON_UNK if self.settings.source_addr.isdigit() else c.SMPP_TON_ALNUM
        receipts = 1 if self.settings.registered_delivery else 0
        chunk: list[bytes] = []
        try:
            for index, (msg, parts) in enumerate(zip(messages, plans, strict=True)):
                destination = msg.to.lstrip("+")
                for part in parts:
                    if len(outstanding) >= window:
                        self._write(client, chunk)
                        while len(outstanding) >= window:
                            self._read(client)
                    seq = client.next_sequence()
                    chunk.append(
                        encode_submit_sm(
                            seq,
                            source_addr=self.settings.source_addr,
                            source_addr_ton=ton,
                            destination_addr=destination,
                            short_message=part.payload,
                            data_coding=int(part.coding),
                            esm_class=part.esm_class,
                            registered_delivery=receipts,
                        )
                    )
                    # counted as written from here: if the write fails half-way, its fate is
                    # uncertain, never "not sent"
                    written[index].append(seq)
                    outstanding.add(seq)
            self._write(client, chunk)
            while outstanding:
                self._read(client)
            self._write(client, chunk)
        except (OSError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError) as exc:
            broken = exc
            _drop(client)
            self.client = None
        return [
            self._outcome(seqs, len(parts), broken)
            for seqs, parts in zip(written, plans, strict=True)
        ]

    def _write(self, client: smpplib.client.Client, chunk: list[bytes]) -> None:
        """Write the answers owed to the SMSC (deliver_sm_resp) and the chunk, in one call."""
        if chunk or self._replies:
            data = b"".join(self._replies) + b"".join(chunk)
            self._replies.clear()
            chunk.clear()
            if client._socket is None:
                raise smpplib.exceptions.ConnectionError()
            client._socket.sendall(data)

    def _read(self, client: smpplib.client.Client) -> None:
        try:
            self._read_one(client)
        except TimeoutError as exc:
            raise smpplib.exceptions.ConnectionError(
                f"no answer from the SMSC within {self.settings.timeout}s"
            ) from exc

    def _read_one(self, client: smpplib.client.Client) -> None:
        """Read one PDU. The two a large send is made of — submit_sm_resp and delivery receipts
        — are read straight from the bytes (their answers are written with the next chunk);
        anything else goes through smpplib."""
        reader = self._reader
        if reader is None:
            client.read_once(auto_send_enquire_link=False)
            return
        if self._replies and not reader.pending():
            self._write(client, [])  # about to wait: answer what the SMSC sent first
        pdu = reader.take()
        command_id, status, sequence = struct.unpack_from(">LLL", pdu, 4)
        if command_id == SUBMIT_SM_RESP:
            message_id = pdu[16:].split(b"\x00", 1)[0].decode("ascii", "replace")
            self._acks[sequence] = (status, message_id)
            self._outstanding.discard(sequence)
            return
        if command_id == DELIVER_SM and status == 0:
            try:
                receipt = parse_receipt_pdu(pdu)
            except (IndexError, ValueError, struct.error):
                receipt = None
            if receipt is not None:
                self._events.append(self._receipt(*receipt))
                self._replies.append(struct.pack(">LLLLB", 17, DELIVER_SM_RESP, 0, sequence, 0))
                return
        reader.unread(pdu)
        client.read_once(auto_send_enquire_link=False)

    def _outcome(self, seqs: list[int], parts: int, broken: Exception | None) -> SendOutcome:
        if not seqs:
            reason = f"connection lost before sending: {broken!r}" if broken else "not sent"
            return ChannelUnavailable(reason)
        acks = [self._acks.get(s) for s in seqs]
        if len(seqs) < parts or any(a is None for a in acks):
            if all(a is None for a in acks) and broken is None:
                return ChannelUnavailable("not sent")
            return DeliveryUncertain(
                f"{sum(a is not None for a in acks)}/{parts} parts acknowledged when the "
                f"connection was lost ({broken!r}); check with the SMSC before re-sending"
            )
        statuses = [a[0] for a in acks if a is not None]
        ids = tuple(a[1] for a in acks if a is not None)
        if all(s == c.SMPP_ESME_ROK for s in statuses):
            return Accepted(ids, segments=parts)
        failed = next(s for s in statuses if s != c.SMPP_ESME_ROK)
        words = c.DESCRIPTIONS.get(failed, "unknown error")
        reason = f"SMSC answered 0x{failed:08X} ({words})"
        if all(s != c.SMPP_ESME_ROK for s in statuses):
            if failed in TRANSIENT_STATUS:
                return ChannelUnavailable(reason)
            return MessageRejected(reason)
        return DeliveryUncertain(f"only some parts accepted: {reason}")

    def poll_events(self) -> list[ChannelEvent]:
        self._pump()
        events, self._events = self._events, []
        return events

    def listen(self, seconds: float) -> list[ChannelEvent]:
        """Wait up to `seconds` for receipts / inbound messages (used between idle loops)."""
        deadline = time.monotonic() + seconds
        if self.client is None:
            self.connect()
        client = self.client
        assert client is not None
        while time.monotonic() < deadline:
            client._socket.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self._read_one(client)
            except TimeoutError:
                break
            finally:
                if client._socket is not None:
                    client._socket.settimeout(self.settings.timeout)
        return self.poll_events()


def _drop(client: smpplib.client.Client) -> None:
    with contextlib.suppress(Exception):  # already closed
        client.disconnect()
    client._socket = None
