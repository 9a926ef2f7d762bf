import os

import pytest
from hotline_shared.crypto import (
    DecryptionError,
    KeyRing,
    caller_token,
    decrypt,
    encrypt,
    new_data_key,
    rewrap_key,
    unwrap_key,
)

MASTER = os.urandom(32)


def ring() -> KeyRing:
    keyring = KeyRing(MASTER)
    keyring.add(new_data_key("center:center-01", MASTER))
    return keyring


def test_ciphertext_differs_per_call_and_decrypts_back() -> None:
    keyring = ring()
    a = keyring.encrypt("center:center-01", "caller feels trapped", context="s1:notes")
    b = keyring.encrypt("center:center-01", "caller feels trapped", context="s1:notes")
    assert a != b
    assert "trapped" not in a
    assert keyring.decrypt(a, context="s1:notes") == "caller feels trapped"
    assert keyring.decrypt(b, context="s1:notes") == "caller feels trapped"


@pytest.mark.parametrize("position", [-1, -5, -20])
def test_tampering_is_detected(position: int) -> None:
    keyring = ring()
    sealed = keyring.encrypt("center:center-01", "plan: call sister", context="s1:plan")
    flipped = "A" if sealed[position] != "A" else "B"
    tampered = (
        sealed[:position] + flipped + sealed[position + 1 :]
        if position != -1
        else sealed[:-1] + flipped
    )
    with pytest.raises(DecryptionError):
        keyring.decrypt(tampered, context="s1:plan")


def test_ciphertext_moved_to_another_record_fails() -> None:
    keyring = ring()
    sealed = keyring.encrypt("center:center-01", "note", context="session:1:notes")
    with pytest.raises(DecryptionError):
        keyring.decrypt(sealed, context="session:2:notes")


def test_key_rotation_rewraps_data_keys_without_touching_payloads() -> None:
    old_master, new_master = os.urandom(32), os.urandom(32)
    wrapped = new_data_key("center:c1", old_master)
    data_key = unwrap_key(wrapped, old_master)
    payload = encrypt(data_key, "center:c1", "keep me", context="ctx")

    rotated = rewrap_key(wrapped, old_master, new_master)

    assert rotated.blob != wrapped.blob
    assert rotated.master_key_id != wrapped.master_key_id
    assert decrypt(unwrap_key(rotated, new_master), payload, context="ctx") == "keep me"
    with pytest.raises(DecryptionError):
        unwrap_key(rotated, old_master)


def test_wrong_master_key_cannot_unwrap() -> None:
    wrapped = new_data_key("center:c1", MASTER)
    with pytest.raises(DecryptionError):
        unwrap_key(wrapped, os.urandom(32))


def test_caller_token_is_deterministic_per_pepper() -> None:
    assert caller_token(b"p1", "+12345678901") == caller_token(b"p1", "+12345678901")
    assert caller_token(b"p1", "+12345678901") != caller_token(b"p2", "+12345678901")
    assert "2345678901" not in caller_token(b"p1", "+12345678901")
