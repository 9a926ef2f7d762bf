"""HMAC-SHA256 webhook signatures with a timestamp: `t=<unix>,v1=<hex HMAC(secret, "t.body")>`.

Intake verifies PBX bridges with it; follow-up signs supervisor alerts with it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

REPLAY_WINDOW_SECONDS = 300
HEADER = "X-Hotline-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, now: datetime) -> bool:
    """True when the header carries a valid v1 MAC with a timestamp within the window."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now.timestamp() - timestamp) > REPLAY_WINDOW_SECONDS:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
