"""A channel that writes one JSON line per message into a directory (demo, dry runs, audits).

Files are `<directory>/<channel>.jsonl`. Each line carries the message key, so a re-run after a
crash can tell which messages already reached the file (`resend_safe`: the sink skips keys it
has already written). The recipient is written masked (`138****5678`, `w***@example.com`, the
start of an address): the file is a record of what was sent, not a copy of the contact book.
Files are mode 0600 in a folder of mode 0700.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from arrears.channels.base import Accepted, ChannelEvent, OutgoingMessage, SendOutcome
from arrears.channels.sms_text import segment_count
from arrears.domain.phone import mask_email, mask_phone
from arrears.privacy.masking import mask_address


def masked_recipient(to: str) -> str:
    """The recipient as the sink writes it: a phone or e-mail masked, an address cut short;
    an id (a push token's borrower) as it is."""
    if "@" in to:
        return mask_email(to)
    if to.startswith("+") or (to.isdigit() and len(to) > 6):
        return mask_phone(to)
    if any(ch.isspace() for ch in to) or not to.isascii():
        return mask_address(to)
    return to


class FileSink:
    resend_safe = True

    def __init__(self, directory: Path | str, *, name: str = "file", fsync: bool = False) -> None:
        self.name = name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fsync = fsync
        self._files: dict[str, IO[str]] = {}
        self._written: dict[str, set[str]] = {}

    def _file(self, channel: str) -> IO[str]:
        handle = self._files.get(channel)
        if handle is None:
            path = self.directory / f"{channel}.jsonl"
            self._written[channel] = _keys_in(path)
            handle = os.fdopen(
                os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8"
            )
            os.chmod(path, 0o600)  # a file an older version made 0644
            self._files[channel] = handle
        return handle

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        touched: set[str] = set()
        for msg in messages:
            handle = self._file(msg.channel)
            segments = segment_count(msg.body) if msg.channel == "sms" else 1
            if msg.key not in self._written[msg.channel]:
                record = {
                    "key": msg.key,
                    "outbox_id": msg.outbox_id,
                    "channel": msg.channel,
                    "to": masked_recipient(msg.to),
                    "language": msg.language,
                    "audience": msg.audience,
                    "template": msg.template,
                    "subject": msg.subject,
                    "body": msg.body,
                    "segments": segments,
                    **({"meta": dict(msg.meta)} if msg.meta else {}),
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._written[msg.channel].add(msg.key)
                touched.add(msg.channel)
            outcomes.append(Accepted((f"file-{msg.outbox_id}",), segments))
        for channel in touched:
            handle = self._files[channel]
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        return outcomes

    def poll_events(self) -> list[ChannelEvent]:
        return []

    def flush(self) -> None:
        for handle in self._files.values():
            handle.flush()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


def _keys_in(path: Path) -> set[str]:
    if not path.exists():
        return set()
    keys = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                keys.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue  # a line cut short by a crash
    return keys
