"""Twilio's request signature (voice, TaskRouter and messaging webhooks share it): the
signed form of a request, verified against the URL Twilio posted to."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from hotline_shared.problems import Problem

SIGNATURE_HEADER = "X-Twilio-Signature"


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """base64(HMAC-SHA1(auth token, URL + each param name+value in name order))."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid_signature(auth_token: str, url: str, params: Mapping[str, str], given: str) -> bool:
    return hmac.compare_digest(signature(auth_token, url, params), given)


def public(request_url: str, public_url: str | None) -> str:
    """The URL Twilio signed: the request's own, or the proxy's public base + path + query."""
    if not public_url:
        return request_url
    parts = urlsplit(request_url)
    query = f"?{parts.query}" if parts.query else ""
    return public_url.rstrip("/") + parts.path + query


def signed_form(
    body: bytes, *, token: SecretStr | None, url: str, given: str | None
) -> dict[str, str]:
    """The form of a signed Twilio request; 400 when it does not parse, 403 when the
    signature is missing or wrong (or the center has no Twilio token)."""
    try:
        form = dict(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(400, "Malformed form body", field="body") from exc
    if (
        token is None
        or not given
        or not valid_signature(token.get_secret_value(), url, form, given)
    ):
        raise Problem(403, "Invalid Twilio signature", field=SIGNATURE_HEADER)
    return form
