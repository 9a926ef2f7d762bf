"""Sign-ins kept server-side: the browser holds only a random cookie; the bearer token it
stands for is stored encrypted (MongoDB, so every replica knows every sign-in), with the
CSRF token that unsafe requests must echo."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline_shared.auth import Principal
from hotline_shared.crypto import KeyRing
from hotline_shared.mongo import Document
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

COOKIE = "hotline_session"
KEY_ID = "center:console"  # the console's own data key in the key store
INDEXES = {
    "web_sessions": (IndexModel([("expires_at", ASCENDING)]),),
    "pending_logins": (IndexModel([("expires_at", ASCENDING)]),),
}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class WebSession:
    id: str
    principal: Principal
    token: str
    csrf: str
    expires_at: datetime


class WebSessions:
    def __init__(self, db: AsyncDatabase[Document], keyring: KeyRing, *, ttl: timedelta) -> None:
        self.sessions = db["web_sessions"]
        self.logins = db["pending_logins"]
        self.keyring = keyring
        self.ttl = ttl

    async def create(self, token: str, principal: Principal, *, now: datetime,
                     token_expires: datetime) -> tuple[str, WebSession]:  # fmt: skip
        """A new sign-in; returns the cookie value (only its digest is stored)."""
        cookie = secrets.token_urlsafe(32)
        session_id = _digest(cookie)
        session = WebSession(session_id, principal, token, secrets.token_urlsafe(32),
                             min(now + self.ttl, token_expires))  # fmt: skip
        sealed = self.keyring.encrypt(KEY_ID, token, context=f"web-session:{session_id}")
        await self.sessions.insert_one({
            "_id": session_id, "principal": principal.model_dump(mode="json"), "token": sealed,
            "csrf": session.csrf, "created_at": now, "expires_at": session.expires_at,
        })  # fmt: skip
        return cookie, session

    async def get(self, cookie: str | None, *, now: datetime) -> WebSession | None:
        if not cookie:
            return None
        doc = await self.sessions.find_one({"_id": _digest(cookie)})
        if doc is None or doc["expires_at"] <= now:
            return None
        token = self.keyring.decrypt(doc["token"], context=f"web-session:{doc['_id']}")
        principal = Principal.model_validate(doc["principal"])
        return WebSession(doc["_id"], principal, token, doc["csrf"], doc["expires_at"])

    async def exists(self, session_id: str, *, now: datetime) -> bool:
        """Still signed in (not signed out, not expired)."""
        doc = await self.sessions.find_one({"_id": session_id}, {"expires_at": 1})
        return doc is not None and doc["expires_at"] > now

    async def end(self, cookie: str | None) -> None:
        if cookie:
            await self.sessions.delete_one({"_id": _digest(cookie)})

    async def purge(self, *, now: datetime) -> None:
        await self.sessions.delete_many({"expires_at": {"$lte": now}})
        await self.logins.delete_many({"expires_at": {"$lte": now}})

    async def begin_login(self, *, state: str, verifier: str, return_to: str,
                          now: datetime) -> None:  # fmt: skip
        await self.logins.insert_one({"_id": _digest(state), "verifier": verifier,
                                      "return_to": return_to,
                                      "expires_at": now + timedelta(minutes=10)})  # fmt: skip

    async def finish_login(self, state: str, *, now: datetime) -> Document | None:
        """The pending login of `state`, once (a replayed callback finds nothing)."""
        doc = await self.logins.find_one_and_delete({"_id": _digest(state)})
        return doc if doc is not None and doc["expires_at"] > now else None
