"""The telephony simulator: drives the running services as the outside world would.

Real provider formats with valid signatures (Twilio and Amazon Connect), realistic
proportions, simulated counselors (screen, write notes, make a safety plan, close) and
follow-up workers (record attempts). Returns the ground truth, for reports and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from hotline_shared import twilio as signatures
from hotline_shared.auth import mint_token
from hotline_shared.centers import Center
from hotline_shared.ids import contact_id_for
from hotline_shared.settings import SecuritySettings

from hotline_cli.processes import service_url

ANSWERS = {
    "none": {"q1": False, "q2": False, "q6": False},
    "low": {"q1": True, "q2": False, "q6": False},
    "moderate": {"q1": True, "q2": True, "q3": True, "q4": False, "q5": False, "q6": False},
    "high": {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": True, "q6a": True},
}


# The provider-side ids the simulated floor answers with (TaskRouter worker, Connect agent):
# a counselor's token lists theirs, so contacts they answered are theirs.
SIMULATED_AGENT_IDS = ("WKsim", "counselor-sim", "arn:sim:agent/1")
RETRIES = 15  # like a provider's webhook retries: a minute or two of patience


SHORT_ABANDON_SECONDS = 5  # the dev centers' threshold (centers.yaml default)


def backoff(attempt: int) -> float:
    return min(0.5 * 2.0**attempt, 8.0)


@dataclass
class Urls:
    """Each service's base URL; several replicas' as a comma-separated list (each request
    picks one, and a retry may pick another, as a load balancer would)."""

    intake: str = "http://127.0.0.1:8001"
    sessions: str = "http://127.0.0.1:8002"
    followup: str = "http://127.0.0.1:8003"

    @classmethod
    def from_env(cls) -> Urls:
        """The services the CLI's simulate and report call: HOTLINE_<SVC>_URL, else
        HOTLINE_<SVC>_PORT on this machine (processes.service_url, as `services up` starts them)."""
        return cls(*(service_url(name) for name in ("intake", "sessions", "followup")))

    def pick(self, service: str) -> str:
        urls: str = getattr(self, service)
        return random.choice(urls.split(","))


@dataclass
class Contact:
    contact_id: str
    provider: str
    number: str
    abandoned: bool
    reachable: bool
    risk: str | None = None  # none | low | moderate | high | imminent
    followup_consent: bool = False
    short: bool = False  # left the queue within the short-abandon threshold (5 s)
    failed: bool = False  # the queue was full: never reached a counselor, no callback
    number_recorded: bool = False  # a callback number came later (for a caller without one)
    session_closed: bool = False
    caring: bool = False  # consented to caring contacts (a message series)
    replied_stop: bool = False  # ... and replied STOP to stop it


@dataclass
class Truth:
    contacts: list[Contact] = field(default_factory=list)
    webhook_ms: list[float] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # accepted attempts by outcome
    attempted_tasks: Counter[str] = field(default_factory=Counter)  # ... and by task id
    errors: list[str] = field(default_factory=list)
    worker_retries: int = 0
    note_texts: list[str] = field(default_factory=list)

    @property
    def answered(self) -> list[Contact]:
        return [c for c in self.contacts if not c.abandoned and not c.failed]

    @property
    def abandoned(self) -> list[Contact]:
        return [c for c in self.contacts if c.abandoned]


class Simulation:
    def __init__(
        self,
        center: Center,
        urls: Urls,
        *,
        seed: int = 7,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.center, self.urls, self.rng = center, urls, random.Random(seed)
        self.truth = Truth()
        self._providers: httpx.AsyncClient  # the providers' own client, opened by run()
        self.on_progress = on_progress or (lambda: None)
        secret = SecuritySettings().jwt_secret
        assert secret is not None
        self._secret_key = secret.get_secret_value()
        self.worker = {"Authorization": "Bearer " + mint_token(
            secret.get_secret_value(), sub="sim-worker", role="supervisor", centers=[center.id])}  # fmt: skip

    def counselor(self, contact_id: str) -> dict[str, str]:
        """The counselor who takes this contact: one per contact, as on a real floor (each
        user's reads of caller data are rate-limited)."""
        token = mint_token(self._secret_key, sub=f"sim-counselor-{contact_id[:8]}",
                           role="counselor", centers=[self.center.id],
                           agent_ids=list(SIMULATED_AGENT_IDS))  # fmt: skip
        return {"Authorization": f"Bearer {token}"}

    async def run(self, contacts: int, rate: float, *, worker_seconds: float = 0) -> Truth:
        limits = httpx.Limits(max_connections=200)
        # The providers' webhooks come from elsewhere (Twilio, Amazon): a client of their own,
        # so their measured latency is not a wait for the counselors' pooled connections.
        async with (
            httpx.AsyncClient(timeout=30, limits=limits) as client,
            httpx.AsyncClient(timeout=30, limits=limits) as self._providers,
        ):
            stop = asyncio.Event()
            workers = asyncio.create_task(self._followup_worker(client, stop))
            tasks = []
            for n in range(contacts):
                tasks.append(asyncio.create_task(self._contact(client, n)))
                await asyncio.sleep(1 / rate)  # the offered rate
            await asyncio.gather(*tasks)
            if worker_seconds:
                await asyncio.sleep(worker_seconds)  # let follow-ups come due (demo profile)
            stop.set()
            await workers
        return self.truth

    # ---- one caller ------------------------------------------------------------------------

    async def _contact(self, client: httpx.AsyncClient, n: int) -> None:
        provider = "twilio" if self.rng.random() < 0.7 else "amazon-connect"
        pcid = f"CA{uuid.uuid4().hex}" if provider == "twilio" else str(uuid.uuid4())
        number = f"+1555{self.rng.randrange(10**7):07d}"
        abandoned = self.rng.random() < 0.10
        # Connect events carry no number: only when the flow sets the attribute (half here)
        reachable = provider == "twilio" or self.rng.random() < 0.5
        contact = Contact(
            contact_id_for(self.center.id, provider, pcid), provider, number, abandoned, reachable
        )
        contact.failed = provider == "twilio" and not abandoned and self.rng.random() < 0.03
        taskrouter = provider == "twilio" and self.rng.random() < 0.3  # routed by TaskRouter
        self.truth.contacts.append(contact)
        try:
            if provider == "twilio":
                await self._twilio_call(client, pcid, contact, taskrouter=taskrouter)
            else:
                await self._connect_call(client, pcid, contact)
            if contact.abandoned and not contact.reachable and self.rng.random() < 0.5:
                await self._record_callback_number(client, contact)
        except Exception as exc:  # a simulator reports, it does not stop the run
            self.truth.errors.append(f"{contact.contact_id}: {type(exc).__name__}: {exc}")
        self.on_progress()

    async def _record_callback_number(self, client: httpx.AsyncClient, contact: Contact) -> None:
        """The caller's number reached the center another way (a chat, a later message)."""
        await self._call(client, "PUT", "intake", f"/v1/contacts/{contact.contact_id}/callback-number",
                         headers=self.counselor(contact.contact_id), json={"number": contact.number}, empty=True)  # fmt: skip
        contact.number_recorded = True

    async def _taskrouter(self, sid: str, event_type: str, n: int) -> None:
        token = self._secret(self.center.twilio_auth_token)
        form = {"EventType": event_type, "Sid": f"EV{sid}{n}", "TaskSid": f"WT{sid}",
                "TaskAttributes": f'{{"call_sid": "{sid}"}}', "Timestamp": str(int(time.time())),
                "WorkerSid": "WKsim", "WorkerName": "counselor-sim"}  # fmt: skip

        def signed(url: str) -> dict[str, Any]:
            return {"content": urlencode(form), "headers": {
                "X-Twilio-Signature": signatures.signature(token, url, form),
                "Content-Type": "application/x-www-form-urlencoded"}}  # fmt: skip

        await self._post(f"/v1/telephony/twilio-taskrouter/{self.center.id}", signed)

    async def _twilio_call(
        self, client: httpx.AsyncClient, sid: str, contact: Contact, *, taskrouter: bool = False
    ) -> None:
        base = {"CallSid": sid, "AccountSid": "ACsim", "From": contact.number, "To": "+18002738255",
                "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
        await self._twilio(
            {**base, "CallStatus": "ringing", "SequenceNumber": "0", "Timestamp": _rfc2822_now()},
        )
        await self._twilio(
            {
                **base,
                "CallStatus": "in-progress",
                "SequenceNumber": "1",
                "Timestamp": _rfc2822_now(),
            },
        )
        wait = self.rng.randint(2, 40)
        contact.short = contact.abandoned and wait < SHORT_ABANDON_SECONDS
        if contact.failed:  # the queue was full
            await self._twilio({**base, "CallStatus": "in-progress", "QueueResult": "queue-full",
                                        "QueueSid": "QUsim", "QueueTime": "0"})  # fmt: skip
            await self._twilio({**base, "CallStatus": "completed", "SequenceNumber": "2",
                                        "Timestamp": _rfc2822_now()})  # fmt: skip
            return
        if taskrouter and not contact.abandoned:
            # TaskRouter answers while the caller is on the line: the counselor documents live
            await self._taskrouter(sid, "task.created", 1)
            await self._taskrouter(sid, "reservation.accepted", 2)
            await self._counselor(client, contact)
            await self._twilio({**base, "CallStatus": "completed", "SequenceNumber": "2",
                                        "Timestamp": _rfc2822_now()})  # fmt: skip
            await self._taskrouter(sid, "task.wrapup", 3)
            await self._taskrouter(sid, "task.completed", 4)
            await self._twilio({**base, "CallStatus": "completed", "QueueResult": "bridged",
                                        "QueueSid": "QUsim", "QueueTime": str(wait)})  # fmt: skip
            return
        if contact.abandoned:
            await self._twilio({**base, "CallStatus": "in-progress", "QueueResult": "hangup",
                                        "QueueSid": "QUsim", "QueueTime": str(wait)})  # fmt: skip
            await self._twilio(
                {
                    **base,
                    "CallStatus": "completed",
                    "SequenceNumber": "2",
                    "Timestamp": _rfc2822_now(),
                },
            )
            return
        # Twilio reports a bridged queue result only after both parties hung up
        await self._twilio(
            {**base, "CallStatus": "completed", "SequenceNumber": "2", "Timestamp": _rfc2822_now()},
        )
        await self._twilio({**base, "CallStatus": "completed", "QueueResult": "bridged",
                                    "QueueSid": "QUsim", "QueueTime": str(wait)})  # fmt: skip
        await self._counselor(client, contact)

    async def _connect_call(self, client: httpx.AsyncClient, cid: str, contact: Contact) -> None:
        # an abandoning caller waited in the queue (seconds, in the past) before hanging up
        wait = self.rng.randint(2, 40) if contact.abandoned else 0
        contact.short = contact.abandoned and wait < SHORT_ABANDON_SECONDS
        begun = datetime.now(UTC) - timedelta(seconds=wait + 1)
        started = begun.isoformat()
        queue = {"queueArn": "arn:sim:queue", "queueType": "STANDARD",
                 "enqueueTimestamp": (begun + timedelta(seconds=1)).isoformat()}  # fmt: skip
        attributes = {"HotlineCallerNumber": contact.number} if contact.reachable else {}

        async def send(event_type: str, **detail: Any) -> None:
            body = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Amazon Connect Contact Event",
                    "source": "aws.connect", "time": datetime.now(UTC).isoformat(), "region": "us-east-1",
                    "detail": {"eventType": event_type, "contactId": cid, "channel": "VOICE",
                               "initiationMethod": "INBOUND", "initiationTimestamp": started,
                               "attributes": attributes, **detail}}  # fmt: skip
            key = self._secret(self.center.amazon_connect_api_key)
            await self._post(f"/v1/telephony/amazon-connect/{self.center.id}",
                             lambda _url: {"json": body, "headers": {"X-Api-Key": key}})  # fmt: skip

        await send("INITIATED")
        await send("QUEUED", queueInfo=queue)
        if contact.abandoned:
            await send(
                "DISCONNECTED", queueInfo=queue, disconnectTimestamp=datetime.now(UTC).isoformat()
            )
            return
        agent = {
            "agentArn": "arn:sim:agent/1",
            "connectedToAgentTimestamp": datetime.now(UTC).isoformat(),
        }
        await send("CONNECTED_TO_AGENT", queueInfo=queue, agentInfo=agent)
        await self._counselor(client, contact)
        ended = datetime.now(UTC).isoformat()
        await send("DISCONNECTED", queueInfo=queue, agentInfo=agent, disconnectTimestamp=ended)
        await send("COMPLETED", queueInfo=queue, agentInfo=agent, disconnectTimestamp=ended)

    # ---- counselor ---------------------------------------------------------------------------

    async def _counselor(self, client: httpx.AsyncClient, contact: Contact) -> None:
        session_id = await self._wait_for_session(client, contact.contact_id)
        roll = self.rng.random()
        risk = (
            "none"
            if roll < 0.30
            else "low"
            if roll < 0.60
            else "moderate"
            if roll < 0.85
            else "high"
            if roll < 0.97
            else "imminent"
        )
        contact.risk = risk
        cid, h = contact.contact_id, self.counselor(contact.contact_id)
        once = {**h, "Idempotency-Key": f"sim-{cid}"}  # retries after a crash change nothing
        await self._call(client, "POST", "intake", f"/v1/contacts/{cid}/screenings", headers=once,
                         json={"answers": ANSWERS["high" if risk == "imminent" else risk]})  # fmt: skip
        if risk == "imminent":
            esc = await self._call(client, "POST", "intake", f"/v1/contacts/{cid}/escalations", headers=once,
                                   json={"reason": "attempt-in-progress", "actions": ["ems-dispatched"]})  # fmt: skip
            await self._call(client, "POST", "intake", f"/v1/contacts/{cid}/escalations/{esc['id']}/ems-confirmation",
                             headers=h, json={"reached": True})  # fmt: skip
        note = f"caller {uuid.uuid4().hex[:6]} talked about losing a job; plan to call sister"
        self.truth.note_texts.append(note)
        version = 0
        for text in (note[:20], note):
            saved = await self._call(client, "PUT", "sessions", f"/v1/sessions/{session_id}/notes",
                                     headers={**h, "If-Match": str(version)}, ok409=True,
                                     json={"free_text": text, "exploring": {"distress": 6}})  # fmt: skip
            version = saved.get("version") or saved.get("current_version", version)
        if risk in ("moderate", "high", "imminent"):
            await self._call(client, "PUT", "sessions", f"/v1/sessions/{session_id}/safety-plan",
                             headers={**h, "If-Match": "0"}, ok409=True,
                             json={"warning_signs": ["not sleeping"], "people_to_ask_for_help": ["sister"],
                                   "reason_for_living": "my dog"})  # fmt: skip
        contact.followup_consent = self.rng.random() < 0.7
        contact.caring = self.rng.random() < 0.3
        close = {"risk_level": "high" if risk == "imminent" else risk, "escalated": risk == "imminent",
                 "followup_consent": contact.followup_consent, "caring_contacts_consent": contact.caring,
                 "caring_contacts_channel": "sms"}  # fmt: skip
        await self._call(
            client,
            "POST",
            "sessions",
            f"/v1/sessions/{session_id}/close",
            headers=h,
            json=close,
        )
        contact.session_closed = True
        if contact.caring and contact.reachable and self.rng.random() < 0.2:
            await self._stop_reply(client, contact)

    async def _stop_reply(self, client: httpx.AsyncClient, contact: Contact) -> None:
        """The caller texts STOP to the center's number: the rest of the series is cancelled."""
        form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": contact.number, "To": "+15550001000",
                "Body": "STOP", "OptOutType": "STOP"}  # fmt: skip
        await self._twilio(form, path=f"/v1/messaging/twilio/{self.center.id}/inbound",
                           service="followup")  # fmt: skip
        contact.replied_stop = True

    async def _wait_for_session(
        self, client: httpx.AsyncClient, contact_id: str, timeout: float = 300
    ) -> str:
        deadline = time.monotonic() + timeout
        pause = 0.3
        while time.monotonic() < deadline:
            try:
                response = await client.get(f"{self.urls.pick('sessions')}/v1/sessions", params={"contact_id": contact_id},
                                            headers=self.counselor(contact_id))  # fmt: skip
                if response.status_code == 200 and response.json()["items"]:
                    return str(response.json()["items"][0]["id"])
            except httpx.HTTPError:
                pass  # the service is restarting
            await asyncio.sleep(pause)  # a counselor waiting for the record to appear
            pause = min(pause * 1.5, 2.0)
        raise TimeoutError(f"no session for {contact_id}")

    # ---- follow-up workers ------------------------------------------------------------------

    async def _followup_worker(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                page = await client.get(f"{self.urls.pick('followup')}/v1/followups", headers=self.worker,
                                        params={"center_id": self.center.id, "status": "due", "limit": 50})  # fmt: skip
                for task in page.json().get("items", []) if page.status_code == 200 else []:
                    outcome = "reached" if self.rng.random() < 0.6 else "no-answer"
                    done = await client.post(f"{self.urls.pick('followup')}/v1/followups/{task['id']}/attempts",
                                             headers=self.worker, json={"outcome": outcome})  # fmt: skip
                    if done.status_code == 201:
                        self.truth.attempts[outcome] += 1
                        self.truth.attempted_tasks[task["id"]] += 1
            except httpx.HTTPError:
                self.truth.worker_retries += 1  # the service is restarting; poll again
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    # ---- plumbing -----------------------------------------------------------------------------

    async def _twilio(self, form: dict[str, str], *, path: str | None = None,
                      service: str = "intake") -> None:  # fmt: skip
        token = self._secret(self.center.twilio_auth_token)

        def signed(url: str) -> dict[str, Any]:  # Twilio signs the URL it calls
            return {"content": urlencode(form), "headers": {
                "X-Twilio-Signature": signatures.signature(token, url, form),
                "Content-Type": "application/x-www-form-urlencoded"}}  # fmt: skip

        await self._post(path or f"/v1/telephony/twilio/{self.center.id}", signed, service)

    async def _post(
        self, path: str, request: Callable[[str], dict[str, Any]], service: str = "intake"
    ) -> None:
        for attempt in range(RETRIES):  # providers retry webhooks that fail
            url = f"{self.urls.pick(service)}{path}"
            signed = request(url)  # the provider's work, before its request leaves
            start = time.perf_counter()
            try:
                response = await self._providers.post(url, **signed)
            except httpx.HTTPError:
                await asyncio.sleep(backoff(attempt))
                continue
            self.truth.webhook_ms.append((time.perf_counter() - start) * 1000)
            if response.status_code < 500:
                if response.status_code >= 400:
                    self.truth.errors.append(
                        f"webhook {response.status_code}: {response.text[:200]}"
                    )
                return
            await asyncio.sleep(backoff(attempt))
        raise RuntimeError(f"webhook kept failing: {path}")

    async def _call(self, client: httpx.AsyncClient, method: str, service: str, path: str, *,
                    ok409: bool = False, empty: bool = False, **kwargs: Any) -> Any:  # fmt: skip
        """A counselor's request, retried on transport errors and 5xx (services restart)."""
        for attempt in range(RETRIES):
            try:
                response = await client.request(
                    method, f"{self.urls.pick(service)}{path}", **kwargs
                )
            except httpx.HTTPError:
                await asyncio.sleep(backoff(attempt))
                continue
            if response.status_code < 300 or (ok409 and response.status_code == 409):
                return None if empty else response.json()
            if response.status_code < 500:
                raise RuntimeError(
                    f"{method} {response.request.url.path}: {response.status_code} {response.text[:200]}"
                )
            await asyncio.sleep(backoff(attempt))
        raise RuntimeError(f"{method} {path}: service kept failing")

    @staticmethod
    def _secret(value: Any) -> str:
        assert value is not None, "the center has no credential for this provider"
        return str(value.get_secret_value())


def _rfc2822_now() -> str:
    return format_datetime(datetime.now(UTC))
