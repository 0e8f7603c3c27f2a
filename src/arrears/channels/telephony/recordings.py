"""Call recordings (全程录音): one WAV per answered call, kept under a configured root.

Layout: `<root>/<YYYY>/<MM>/<DD>/<call id>.wav`, dated by the day the call started (UTC), so the
retention sweep needs no database and no file times: `expired(cutoff)` lists the recordings of
days before the cutoff, `delete(paths)` removes them. Paths handed out are relative to the root
("/"-separated) — what the `calls` table stores — and never escape it.

A recording is written once (to a temporary name, then renamed) and its SHA-256 goes to the audit
log; `read` hands the bytes back only when they still hash to what was stored.
"""

from __future__ import annotations

import array
import hashlib
import os
import re
import sys
import wave
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from arrears.channels.telephony.port import StoredRecording

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class RecordingMissing(FileNotFoundError):
    def __init__(self, path: str) -> None:
        super().__init__(f"the recording {path!r} is not in the recording store (purged or moved)")


class RecordingTampered(ValueError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"the recording {path!r} no longer matches the SHA-256 recorded when it was stored; "
            "it was altered — tell compliance"
        )


class RecordingPathInvalid(ValueError):
    pass


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def wav_duration_ms(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return round(w.getnframes() * 1000 / w.getframerate())


def _samples(path: Path) -> tuple[array.array[int], int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path.name}: only 16-bit PCM recordings are mixed")
        rate, channels = w.getframerate(), w.getnchannels()
        data = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        data.byteswap()
    if channels > 1:  # keep the first channel
        data = data[::channels]
    return data, rate


def mix_stereo(left: Path | None, right: Path | None, out: Path) -> int:
    """One stereo WAV of a call: the agent's side on the left, the far end's on the right (the
    shorter side padded with silence). Returns the duration in milliseconds."""
    sides = [_samples(p) if p is not None else None for p in (left, right)]
    rates = {s[1] for s in sides if s is not None}
    if not rates:
        raise ValueError("a recording needs at least one side")
    if len(rates) > 1:
        raise ValueError(f"the two sides have different sample rates: {sorted(rates)}")
    rate = rates.pop()
    frames = max(len(s[0]) for s in sides if s is not None)
    chans = [s[0] if s is not None else array.array("h") for s in sides]
    for c in chans:
        c.extend([0] * (frames - len(c)))
    mixed = array.array("h", [0]) * (2 * frames)
    mixed[0::2] = chans[0]
    mixed[1::2] = chans[1]
    if sys.byteorder == "big":
        mixed.byteswap()
    with wave.open(str(out), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(mixed.tobytes())
    return round(frames * 1000 / rate)


@dataclass(frozen=True)
class RecordingStore:
    root: Path

    def _day_dir(self, at: datetime) -> str:
        d = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
        return f"{d:%Y}/{d:%m}/{d:%d}"

    def absolute(self, relative: str) -> Path:
        root = self.root.resolve()
        path = (root / relative).resolve()
        if root not in path.parents:
            raise RecordingPathInvalid(f"{relative!r} is not a path inside the recording store")
        return path

    def put(self, call_id: str, source: Path, at: datetime) -> StoredRecording:
        """Move `source` (a finished WAV) into the store as the recording of `call_id`."""
        name = _SAFE.sub("_", call_id) + ".wav"
        relative = f"{self._day_dir(at)}/{name}"
        target = self.absolute(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        duration = wav_duration_ms(source)
        partial = target.with_suffix(".wav.part")
        with source.open("rb") as src, partial.open("wb") as dst:
            for chunk in iter(lambda: src.read(1 << 16), b""):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, target)
        source.unlink(missing_ok=True)
        return StoredRecording(relative, sha256_of(target), duration, target.stat().st_size)

    def read(self, relative: str, sha256: str) -> bytes:
        """The recording's bytes, checked against the SHA-256 stored with it."""
        path = self.absolute(relative)
        if not path.is_file():
            raise RecordingMissing(relative)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RecordingTampered(relative)
        return data

    def expired(self, cutoff: date) -> list[str]:
        """Recordings of calls started before `cutoff` (relative paths, oldest first)."""
        found: list[str] = []
        if not self.root.is_dir():
            return found
        for year in sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()):
            for month in sorted(p for p in year.iterdir() if p.is_dir() and p.name.isdigit()):
                for day in sorted(p for p in month.iterdir() if p.is_dir() and p.name.isdigit()):
                    try:
                        on = date(int(year.name), int(month.name), int(day.name))
                    except ValueError:
                        continue
                    if on >= cutoff:
                        continue
                    found.extend(
                        f"{year.name}/{month.name}/{day.name}/{f.name}"
                        for f in sorted(day.iterdir())
                        if f.is_file() and f.suffix == ".wav"
                    )
        return found

    def delete(self, relatives: list[str]) -> int:
        gone = 0
        for rel in relatives:
            path = self.absolute(rel)
            if path.exists():
                path.unlink()
                gone += 1
            for parent in (path.parent, path.parent.parent, path.parent.parent.parent):
                if parent != self.root.resolve() and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
        return gone
