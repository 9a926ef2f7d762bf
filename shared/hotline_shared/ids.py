"""Deterministic identifiers: the same upstream facts always give the same id."""

from __future__ import annotations

import uuid

# Fixed namespace for every uuid5 hotline derives; changing it would re-key all data.
HOTLINE_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


def derive_id(*parts: str) -> str:
    """uuid5 over the parts joined with ':' (e.g. derive_id("twilio", call_sid))."""
    if not parts or any(not p for p in parts):
        raise ValueError("derive_id needs non-empty parts")
    return str(uuid.uuid5(HOTLINE_NAMESPACE, ":".join(parts)))


def contact_id_for(center_id: str, provider: str, provider_contact_id: str) -> str:
    """contact_id = uuid5(namespace, "contact:{center}:{provider}:{provider call id}"). The
    center is part of it: two centers' PBXs may reuse a call id, and one center must not be
    able to claim (or probe) another's ids."""
    return derive_id("contact", center_id, provider, provider_contact_id)


def event_id_for(event_type: str, *parts: str) -> str:
    """Event ids are derived from what caused them, so a replay republishes the same id."""
    return derive_id("event", event_type, *parts)
