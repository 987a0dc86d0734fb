"""Encryption of scan results at rest (AES-256-GCM).

The leader encrypts a result before proposing it, so the Raft log, journals and snapshots
hold ciphertext only; the keys never enter the log. Every replica has the same key set from
its config (`security.data_keys`), each key with an id stored beside every ciphertext, so a
key can be rotated: add a new key, make it `security.active_data_key`, keep the old one for
as long as records encrypted with it are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sniper_ha.config import SecurityConfig

ENVELOPE = "aes-256-gcm"


class Undecryptable(ValueError):
    """A ciphertext names a key this replica does not have, or does not authenticate."""


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


class DataKeys:
    def __init__(self, config: SecurityConfig) -> None:
        self._keys = {k.id: base64.b64decode(k.key) for k in config.data_keys}
        self.active = config.active_data_key or (config.data_keys[-1].id if config.data_keys else None)

    @property
    def enabled(self) -> bool:
        return self.active is not None

    def encrypt(self, value: Any, context: str) -> Any:
        """Seal a JSON value; `context` (task id and lease) is bound as associated data."""
        if self.active is None:
            return value
        nonce = os.urandom(12)
        plain = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        sealed = AESGCM(self._keys[self.active]).encrypt(nonce, plain, context.encode())
        return {"enc": ENVELOPE, "kid": self.active,
                "nonce": base64.b64encode(nonce).decode(),
                "ct": base64.b64encode(sealed).decode()}

    def decrypt(self, value: Any, context: str) -> Any:
        if not is_sealed(value):
            return value
        key = self._keys.get(value["kid"])
        if key is None:
            raise Undecryptable(f"data key {value['kid']!r} is not configured on this replica")
        try:
            plain = AESGCM(key).decrypt(base64.b64decode(value["nonce"]),
                                        base64.b64decode(value["ct"]), context.encode())
        except Exception as exc:  # InvalidTag and malformed base64 alike
            raise Undecryptable(f"result does not decrypt with key {value['kid']!r}") from exc
        return json.loads(plain)

    def fingerprint(self, canonical: str) -> str:
        """A keyed hash of a worker's write, so repeats are recognised without the log
        holding a plain hash of the findings (which could be guessed)."""
        if self.active is None:
            return hashlib.sha256(canonical.encode()).hexdigest()
        key = hashlib.sha256(b"write-hash:" + self._keys[self.active]).digest()
        return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get("enc") == ENVELOPE and "ct" in value
