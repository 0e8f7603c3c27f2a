"""Encryption of personal data at rest (AES-256-GCM) and a keyed blind index for look-ups.

Ciphertext layout: b"<key id>:" + 12-byte nonce + AES-GCM ciphertext (with tag). The key id lets
`arrears keys rotate` re-encrypt row by row while both keys stay readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyRingInvalid(ValueError):
    pass


class KeyUnknown(KeyError):
    pass


@dataclass
class KeyRing:
    keys: dict[str, bytes]
    active: str
    index_key: bytes
    source: Path | None = field(default=None, compare=False)
    # extra folders the audit log's anchor is written to (besides the key file's own)
    anchor_dirs: tuple[Path, ...] = field(default=(), compare=False)

    def encrypt(self, plaintext: str | None) -> bytes | None:
        if plaintext is None:
            return None
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext.encode(), None)
        return self.active.encode() + b":" + nonce + sealed

    def decrypt(self, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        kid, _, rest = bytes(blob).partition(b":")
        key = self.keys.get(kid.decode())
        if key is None and self.reload():
            key = self.keys.get(kid.decode())
        if key is None:
            raise KeyUnknown(f"no key {kid.decode()!r} in the key ring; restore the key file")
        return AESGCM(key).decrypt(rest[:12], rest[12:], None).decode()

    def reload(self) -> bool:
        """Pick up keys added to the key file by a rotation in another process (no downtime)."""
        if self.source is None or not self.source.exists():
            return False
        fresh = KeyRing.from_json(self.source.read_text(), source=self.source)
        if fresh.index_key != self.index_key:
            raise KeyRingInvalid("the key file's index key changed; blind indexes would break")
        added = set(fresh.keys) - set(self.keys)
        self.keys.update(fresh.keys)
        self.active = fresh.active
        return bool(added)

    def retire(self, kid: str) -> None:
        """Drop a key no ciphertext uses any more (check with `arrears keys status`)."""
        if kid == self.active:
            raise KeyRingInvalid(f"{kid!r} is the active key; rotate first")
        if kid not in self.keys:
            raise KeyUnknown(f"no key {kid!r} in the key ring")
        del self.keys[kid]

    def key_id_of(self, blob: bytes) -> str:
        return bytes(blob).partition(b":")[0].decode()

    def blind_index(self, value: str | None) -> str | None:
        if value is None:
            return None
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def add_key(self) -> str:
        kid = f"k{len(self.keys) + 1}-{secrets.token_hex(2)}"
        while kid in self.keys:
            kid = f"k{len(self.keys) + 1}-{secrets.token_hex(2)}"
        self.keys[kid] = AESGCM.generate_key(bit_length=256)
        self.active = kid
        return kid

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "index_key": _b64(self.index_key),
                "keys": {kid: _b64(key) for kid, key in self.keys.items()},
            },
            indent=2,
        )

    def save(self, path: Path | None = None) -> None:
        target = path or self.source
        if target is None:
            raise KeyRingInvalid("this key ring came from the environment; save it to a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(self.to_json())
        os.chmod(tmp, 0o600)
        tmp.replace(target)

    @classmethod
    def generate(cls, source: Path | None = None) -> KeyRing:
        ring = cls(keys={}, active="", index_key=secrets.token_bytes(32), source=source)
        ring.add_key()
        return ring

    @classmethod
    def from_json(cls, text: str, source: Path | None = None) -> KeyRing:
        try:
            data = json.loads(text)
            keys = {kid: base64.b64decode(v) for kid, v in data["keys"].items()}
            ring = cls(keys, data["active"], base64.b64decode(data["index_key"]), source)
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyRingInvalid(
                f"key ring is not valid JSON with keys/active/index_key: {exc}"
            ) from exc
        if ring.active not in ring.keys:
            raise KeyRingInvalid(f"active key {ring.active!r} is not among the keys")
        return ring

    @classmethod
    def load(cls, env_value: str | None, path: Path, create: bool = False) -> KeyRing:
        """From ARREARS_KEYS (JSON) if set, else the key file; a missing file is created only
        when asked (the application opens its ring with `keycheck.open_key_ring`, which looks at
        the database first)."""
        if env_value:
            return cls.from_json(env_value)
        if path.exists():
            return cls.from_json(path.read_text(), source=path)
        if not create:
            raise KeyRingInvalid(f"no key file at {path}; set ARREARS_KEYS or ARREARS_KEY_FILE")
        ring = cls.generate(source=path)
        ring.save()
        return ring


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
