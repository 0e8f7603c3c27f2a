"""The one interface every channel adapter implements, and what flows through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from arrears.domain.outcomes import Target

Audience = Target  # who a message reaches (one definition, in the domain)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an e-mail (a scheduled report): its name, MIME type and bytes."""

    filename: str
    content_type: str  # e.g. text/csv
    data: bytes


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A rendered message ready for a provider. `key` is stable per outbox row, so a provider
    that de-duplicates by key (push, IVR) can safely be handed the same message again."""

    outbox_id: int
    channel: str
    to: str
    language: str
    audience: str
    template: str
    body: str
    subject: str | None = None
    html: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()  # e-mail only

    @property
    def key(self) -> str:
        return f"arrears-{self.outbox_id}"


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took the message; `provider_ids` has one id per part (SMS segments)."""

    provider_ids: tuple[str, ...]
    segments: int = 1

    @property
    def provider_id(self) -> str:
        return self.provider_ids[0] if self.provider_ids else ""


class ChannelError(Exception):
    """A send that did not go through; `reason` is the provider's own words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelUnavailable(ChannelError):
    """Transient: the provider is down, throttling or timed out; retry later with back-off."""


class MessageRejected(ChannelError):
    """Permanent: the provider refused this message (bad number, content); do not retry."""


class DeliveryUncertain(ChannelError):
    """The message may or may not have reached the provider (connection lost after it was
    written, before the answer came): never retried blindly — the row becomes `unknown`."""


class ChannelConfigInvalid(ValueError):
    """The channels file (or a channel's settings in it) cannot be used; the message says why."""


class ChannelNotConfigured(LookupError):
    def __init__(self, channel: str) -> None:
        super().__init__(
            f"no adapter for channel {channel!r}; add it to the channels file "
            "(or a '*' entry, e.g. the file sink)"
        )


SendOutcome = Accepted | ChannelError


class ReceiptState(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    channel: str
    provider_id: str
    state: ReceiptState
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    channel: str
    sender: str  # E.164 for SMS
    text: str
    received_at: datetime | None = None


ChannelEvent = DeliveryReceipt | InboundMessage


@runtime_checkable
class Channel(Protocol):
    """A provider adapter. `send_batch` returns one outcome per message, in order; an adapter
    may pipeline the batch (SMPP windowing) but must not raise for a single bad message."""

    name: str
    # True when the provider de-duplicates by `OutgoingMessage.key`: a message whose fate is
    # unknown after a crash may then be handed over again instead of surfacing for review.
    resend_safe: bool

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]: ...

    def poll_events(self) -> list[ChannelEvent]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class ChannelSet:
    """Adapters by channel name; a '*' adapter takes every channel without its own."""

    def __init__(self, adapters: Mapping[str, Channel] | Channel) -> None:
        if isinstance(adapters, Channel):
            self._by_name: dict[str, Channel] = {"*": adapters}
        else:
            self._by_name = dict(adapters)

    def get(self, channel: str) -> Channel:
        adapter = self._by_name.get(channel) or self._by_name.get("*")
        if adapter is None:
            raise ChannelNotConfigured(channel)
        return adapter

    def has(self, channel: str) -> bool:
        return channel in self._by_name or "*" in self._by_name

    def distinct(self) -> list[Channel]:
        seen: dict[int, Channel] = {}
        for adapter in self._by_name.values():
            seen.setdefault(id(adapter), adapter)
        return list(seen.values())

    def close(self) -> None:
        for adapter in self.distinct():
            adapter.flush()
            adapter.close()
