"""The counselor console under 20 counselors: how long until a keystroke is saved, and how
long until an answered contact shows on the counselor's screen.

Each simulated counselor signs in to the console (development sign-in), holds its live feed
(Server-Sent Events) open, gets contacts answered by Amazon Connect webhooks naming its agent
ARN, and autosaves notes through the console. Printed next to the same run's raw HTTP round
trips: the same autosave PUT straight to the sessions service (no console in between), and a
bare GET to the console.

    uv run python bench/console.py --counselors 20 --contacts 3 --saves 10

`keystroke-to-saved` is the console round trip of an autosave; the browser adds its typing
pause (500 ms after the last key) before it sends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
from _common import Service, percentile, summary
from hotline_shared.auth import mint_token
from hotline_shared.ids import contact_id_for
from hotline_shared.settings import SecuritySettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser.telephony import answer_call, answered_events, post_connect

CENTER = "center-01"
NOTE = "Caller describes a breakup last week; denies access to means; distress 7/10. "


class Counselor:
    def __init__(self, console: str, n: int) -> None:
        self.console = console
        self.sub = f"bench-counselor-{n}"
        self.agent = f"arn:aws:connect:agent/bench-{n}-{uuid.uuid4().hex[:6]}"
        self.client = httpx.AsyncClient(base_url=console, timeout=60)
        self.seen: dict[str, float] = {}  # contact id → when the feed showed it
        self.csrf = ""

    async def sign_in(self) -> None:
        response = await self.client.post("/bff/dev-login", headers={"Origin": self.console},
                                          json={"sub": self.sub, "role": "counselor",
                                                "center_id": CENTER, "agent_ids": [self.agent]})  # fmt: skip
        response.raise_for_status()
        cookie = response.headers["set-cookie"].split(";")[0]
        self.client.headers["Cookie"] = cookie
        self.csrf = (await self.client.get("/bff/me")).json()["csrf_token"]

    async def watch(self, ready: asyncio.Event) -> None:
        async with self.client.stream("GET", "/bff/events", timeout=None) as stream:
            ready.set()
            kind = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "hotline":
                    event = json.loads(line[6:])
                    if event["type"] == "hotline.contact.answered.v1":
                        self.seen.setdefault(event["subject"], time.perf_counter())


async def answered_to_visible(
    intake: str, counselors: list[Counselor], contacts: int
) -> list[float]:
    latencies: list[float] = []

    async def one(c: Counselor) -> None:
        for _ in range(contacts):
            cid = f"bench-{uuid.uuid4().hex[:10]}"
            *before, answered = answered_events(cid, agent=c.agent, caller="+12025550100")
            for body in before:
                await asyncio.to_thread(post_connect, intake, CENTER, body)
            started = time.perf_counter()  # from the webhook that says "answered"
            await asyncio.to_thread(post_connect, intake, CENTER, answered)
            WEBHOOK_MS.append((time.perf_counter() - started) * 1000)
            contact_id = contact_id_for(CENTER, "amazon-connect", cid)
            deadline = time.monotonic() + 60
            while contact_id not in c.seen:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{contact_id} never reached {c.sub}'s screen")
                await asyncio.sleep(0.005)  # polling what the feed task recorded
            latencies.append((c.seen[contact_id] - started) * 1000)

    await asyncio.gather(*(one(c) for c in counselors))
    return latencies


async def session_of(
    client: httpx.AsyncClient, contact_id: str, prefix: str = "/api/sessions"
) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items = (
            await client.get(f"{prefix}/v1/sessions", params={"contact_id": contact_id})
        ).json()["items"]
        if items:
            return str(items[0]["id"])
        await asyncio.sleep(0.1)  # the session opens from the answered event
    raise RuntimeError(f"no session for {contact_id}")


RETRIES = {"count": 0}
WEBHOOK_MS: list[float] = []  # of the above, the answered webhook's own round trip


async def autosaves(client: httpx.AsyncClient, session_id: str, saves: int, *, prefix: str,
                    headers: dict[str, str]) -> list[float]:  # fmt: skip
    """Each save until it is accepted, retrying a 503 as the browser's queue does; the
    latency is the counselor's: from sending to saved, retries included."""
    latencies, version = [], 0
    for n in range(saves):
        started = time.perf_counter()
        while True:
            response = await client.put(f"{prefix}/v1/sessions/{session_id}/notes",
                                        json={"free_text": NOTE * (n + 1)},
                                        headers={**headers, "If-Match": f'"{version}"'})  # fmt: skip
            if response.status_code not in (502, 503):
                break
            RETRIES["count"] += 1
            await asyncio.sleep(0.2)  # the retry pause of a busy answer
        response.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
        version = response.json()["version"]
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counselors", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=3, help="answered per counselor")
    parser.add_argument("--saves", type=int, default=10, help="autosaves per counselor")
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    async with Service("intake", prefix=prefix) as intake, \
            Service("sessions", prefix=prefix) as sessions, \
            Service("followup", prefix=prefix) as _followup:  # fmt: skip
        env = {"HOTLINE_DEV_LOGIN": "1", "HOTLINE_CONSOLE_INTAKE_URL": intake.url,
               "HOTLINE_CONSOLE_SESSIONS_URL": sessions.url,
               "HOTLINE_CONSOLE_FOLLOWUP_URL": _followup.url}  # fmt: skip
        console_service = Service("console", env, prefix=prefix)
        public = f"http://localhost:{console_service.process.port}"
        console_service.process.env["HOTLINE_CONSOLE_PUBLIC_URL"] = public
        async with console_service:
            counselors = [Counselor(public, n) for n in range(args.counselors)]
            await asyncio.gather(*(c.sign_in() for c in counselors))
            ready = [asyncio.Event() for _ in counselors]
            watchers = [
                asyncio.create_task(c.watch(r)) for c, r in zip(counselors, ready, strict=True)
            ]
            await asyncio.gather(*(r.wait() for r in ready))

            started = time.perf_counter()
            visible = await answered_to_visible(intake.url, counselors, args.contacts)
            visible_seconds = time.perf_counter() - started

            mine = [next(iter(c.seen)) for c in counselors]
            sessions_of = await asyncio.gather(
                *(session_of(c.client, cid) for c, cid in zip(counselors, mine, strict=True))
            )
            started = time.perf_counter()
            through_console = await asyncio.gather(*(
                autosaves(c.client, sid, args.saves, prefix="/api/sessions", headers={"X-CSRF-Token": c.csrf})
                for c, sid in zip(counselors, sessions_of, strict=True)))  # fmt: skip
            console_seconds = time.perf_counter() - started

            # the raw round trips, same run: the same PUT straight to sessions, and a bare GET
            secret = SecuritySettings().jwt_secret
            assert secret is not None
            raw_sessions = await asyncio.gather(*(session_of(c.client, cid) for c, cid in zip(counselors, [
                answer_call(intake.url, CENTER, f"raw-{uuid.uuid4().hex[:10]}", agent=c.agent, caller="+12025550100")
                for c in counselors], strict=True)))  # fmt: skip
            bearer = {"Authorization": "Bearer " + mint_token(secret.get_secret_value(), sub="bench-raw",
                                                              role="supervisor", centers=[CENTER])}  # fmt: skip
            async with httpx.AsyncClient(base_url=sessions.url, timeout=60) as direct:
                started = time.perf_counter()
                raw = await asyncio.gather(*(autosaves(direct, sid, args.saves, prefix="", headers=bearer)
                                             for sid in raw_sessions))  # fmt: skip
                raw_seconds = time.perf_counter() - started
            async with httpx.AsyncClient(base_url=public, timeout=60) as bare:
                pings = []
                for _ in range(200):
                    t = time.perf_counter()
                    (await bare.get("/healthz")).raise_for_status()
                    pings.append((time.perf_counter() - t) * 1000)
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            for c in counselors:
                await c.client.aclose()

    saves = [x for xs in through_console for x in xs]
    direct_saves = [x for xs in raw for x in xs]
    print(
        f"console, {args.counselors} counselors: {args.contacts} answered contacts and {args.saves} autosaves each"
    )
    print(
        summary(
            "answered webhook -> on the counselor's feed", len(visible), visible_seconds, visible
        )
    )
    print(summary("  of which the answered webhook (intake)", len(WEBHOOK_MS), visible_seconds,
                  WEBHOOK_MS))  # fmt: skip
    print(
        summary("keystroke-to-saved: autosave via the console", len(saves), console_seconds, saves)
    )
    print(
        summary(
            "raw: the same autosave straight to sessions",
            len(direct_saves),
            raw_seconds,
            direct_saves,
        )
    )
    print(
        summary(
            "raw: GET /healthz on the console (HTTP floor)", len(pings), sum(pings) / 1000, pings
        )
    )
    print(f"ratio: the console adds {percentile(saves, 50) - percentile(direct_saves, 50):.1f} ms at p50 and "
          f"{percentile(saves, 99) - percentile(direct_saves, 99):.1f} ms at p99 to an autosave; "
          f"{RETRIES['count']} busy answers (503) retried")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
