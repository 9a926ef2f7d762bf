"""Envelope encryption (AES-256-GCM) with per-center data keys, and HMAC caller tokens.

A payload is encrypted with its center's data key; the data key is stored only wrapped
(encrypted) by the master key. Rotating the master key re-wraps data keys and leaves
every payload untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32
FORMAT = "v1"


class DecryptionError(Exception):
    """Ciphertext was tampered with, or the wrong key was used."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a master key, with the id of that master key."""

    key_id: str
    master_key_id: str
    blob: str  # base64(nonce || ciphertext)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode(), validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise DecryptionError("ciphertext is not valid base64") from exc


def master_key_id(master_key: bytes) -> str:
    return hashlib.sha256(b"hotline-master-key-id" + master_key).hexdigest()[:16]


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("ciphertext failed authentication") from exc


def new_data_key(key_id: str, master_key: bytes) -> WrappedKey:
    return wrap_key(key_id, os.urandom(KEY_BYTES), master_key)


def wrap_key(key_id: str, data_key: bytes, master_key: bytes) -> WrappedKey:
    sealed = _seal(master_key, data_key, key_id.encode())
    return WrappedKey(key_id=key_id, master_key_id=master_key_id(master_key), blob=_b64(sealed))


def unwrap_key(wrapped: WrappedKey, master_key: bytes) -> bytes:
    if wrapped.master_key_id != master_key_id(master_key):
        raise DecryptionError(f"data key {wrapped.key_id} is wrapped by another master key")
    return _open(master_key, _unb64(wrapped.blob), wrapped.key_id.encode())


def rewrap_key(wrapped: WrappedKey, old_master: bytes, new_master: bytes) -> WrappedKey:
    """Key rotation: the data key (and so every payload) stays the same."""
    return wrap_key(wrapped.key_id, unwrap_key(wrapped, old_master), new_master)


def encrypt(data_key: bytes, key_id: str, plaintext: str, *, context: str) -> str:
    """Encrypt text; `context` (e.g. "session:<id>:notes") is bound as associated data,
    so a ciphertext copied into another record fails to decrypt."""
    sealed = _seal(data_key, plaintext.encode(), context.encode())
    return f"{FORMAT}:{key_id}:{_b64(sealed)}"


def key_id_of(ciphertext: str) -> str:
    _, key_id, _ = _split(ciphertext)
    return key_id


def decrypt(data_key: bytes, ciphertext: str, *, context: str) -> str:
    _, _, blob = _split(ciphertext)
    return _open(data_key, _unb64(blob), context.encode()).decode()


def _split(ciphertext: str) -> tuple[str, str, str]:
    """ "v1:<key id>:<base64>" — the key id may itself contain ':', base64 never does."""
    head, sep, blob = ciphertext.rpartition(":")
    fmt, sep2, key_id = head.partition(":")
    if not sep or not sep2 or fmt != FORMAT or not key_id:
        raise DecryptionError("not a hotline ciphertext")
    return fmt, key_id, blob


def caller_token(pepper: bytes, e164: str) -> str:
    """HMAC-SHA256(center pepper, E.164 number): the only way a caller appears in events."""
    return hmac.new(pepper, e164.encode(), hashlib.sha256).hexdigest()


class KeyRing:
    """Per-center data keys, unwrapped on demand with the master key."""

    def __init__(self, master_key: bytes, wrapped: dict[str, WrappedKey] | None = None) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self._master = master_key
        self._wrapped: dict[str, WrappedKey] = dict(wrapped or {})
        self._cache: dict[str, bytes] = {}

    @property
    def wrapped(self) -> dict[str, WrappedKey]:
        return dict(self._wrapped)

    def add(self, wrapped: WrappedKey) -> None:
        self._wrapped[wrapped.key_id] = wrapped

    def data_key(self, key_id: str) -> bytes:
        if key_id not in self._cache:
            self._cache[key_id] = unwrap_key(self._wrapped[key_id], self._master)
        return self._cache[key_id]

    def encrypt(self, key_id: str, plaintext: str, *, context: str) -> str:
        return encrypt(self.data_key(key_id), key_id, plaintext, context=context)

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        return decrypt(self.data_key(key_id_of(ciphertext)), ciphertext, context=context)
