"""Follow-up HTTP API: the work queue, a task, attempts, SLA summary and breaches."""

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, Security
from hotline_shared import twilio as signatures
from hotline_shared.auth import TWILIO_SIGNATURE, Principal, Role, TokenVerifier, bearer
from hotline_shared.centers import Center
from hotline_shared.events import AttemptOutcome, RiskLevel
from hotline_shared.intervals import Interval, checked_window
from hotline_shared.problems import API_PROBLEMS, BODY_PROBLEMS, Problem, problem_responses
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from hotline_followup import caring
from hotline_followup import service_layer as svc
from hotline_followup.domain.task import Sla as SlaState
from hotline_followup.domain.task import Status
from hotline_followup.service_layer import Followup


class LethalMeans(StrEnum):
    NO_ACCESS = "no-access"
    REDUCED = "reduced"
    HAS_ACCESS = "has-access"
    UNKNOWN = "unknown"


class CallDocumentation(BaseModel):
    """A follow-up call, documented: mood and current risk, safety-plan review, access to
    lethal means, and whether the person wants more contact (no: the follow-up ends)."""

    model_config = ConfigDict(extra="forbid")

    mood: int | None = Field(default=None, ge=0, le=10, description="0 (worst) to 10")
    current_risk: RiskLevel | None = None
    screening_id: str | None = Field(
        default=None,
        max_length=200,
        description="a C-SSRS re-screen made through intake with this followup_id",
    )
    safety_plan_reviewed: StrictBool | None = None
    lethal_means: LethalMeans | None = None
    wants_more_contact: StrictBool | None = None
    notes: str | None = Field(default=None, max_length=4_000)


class ScheduleCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime = Field(description="the agreed time, with its offset (e.g. -08:00)")


class AssignTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$", description="the worker's user id")


class AttemptCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: AttemptOutcome
    documentation: CallDocumentation | None = None


# ---- what the routes answer (read models) ---------------------------------------------------


class AttemptRead(BaseModel):
    n: int | None
    outcome: str | None
    at: datetime | None
    by: str | None


class TaskRead(BaseModel):
    id: str
    contact_id: str
    center_id: str
    kind: str = Field(description="callback | ems-confirmation | safety-follow-up | follow-up | "
                      "check-in")  # fmt: skip
    status: str = Field(description="scheduled | due | attempted | completed | missed | cancelled")
    due_at: datetime
    sla_state: str = Field(description="on-track | at-risk | breached")
    attempts: int
    max_attempts: int | None
    policy_version: str
    created_at: datetime
    first_attempt_at: datetime | None
    claimed_by: str | None
    claim_until: datetime | None
    attempt_log: list[AttemptRead]


class TaskPage(BaseModel):
    items: list[TaskRead]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class AlertRead(BaseModel):
    id: str
    center_id: str
    type: str = Field(description="the CloudEvents type of the event alerted on")
    contact_id: str | None
    at: datetime | None
    imminent: bool
    detail: dict[str, Any] = Field(description="level, reason, kind, followup_id, … as given")
    acked_by: str | None
    acked_at: datetime | None
    delivery: str | None = Field(description="the alert's delivery to supervisors")
    oncall: str | None = Field(description="the on-call page, when one was needed")


class AlertPage(BaseModel):
    items: list[AlertRead]
    next_cursor: str | None = None


class FunnelCounts(BaseModel):
    scheduled: int
    attempted: int
    reached: int
    declined: int
    lost: int


class BreachCount(BaseModel):
    start: datetime
    breached: int


class FollowupKpiIntervals(BaseModel):
    center_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    interval_seconds: float
    funnel: dict[str, FunnelCounts] = Field(description="by task kind (caring contacts apart)")
    sla_breaches: list[BreachCount]


class MessageRead(BaseModel):
    index: int | None
    send_at: datetime | None
    status: str | None
    tries: int | None
    sent_at: datetime | None
    reason: str | None


class SeriesRead(BaseModel):
    """A caring-contacts series: no destination, no message text."""

    id: str
    contact_id: str
    center_id: str
    session_id: str
    channel: str
    status: str
    created_at: datetime
    opted_out_by: str | None
    opted_out_at: datetime | None
    messages: list[MessageRead]


class SeriesPage(BaseModel):
    items: list[SeriesRead]


class FollowupKpis(BaseModel):
    tasks: int
    scheduled: int
    reached: int
    declined: int
    lost_to_follow_up: int
    first_attempt_within_sla_rate: float | None
    completion_rate: float | None
    lost_to_follow_up_rate: float | None
    median_seconds_to_first_attempt: float | None


class CaringKpis(BaseModel):
    scheduled: int = Field(description="series started")
    active: int
    completed: int
    opted_out: int
    messages: dict[str, int] = Field(description="messages by status")


class SlaSummary(FollowupKpis):
    center_id: str
    counts: dict[str, int] = Field(description="tasks by SLA state")
    by_kind: dict[str, FollowupKpis | CaringKpis]


def build_router(get: Callable[[], Followup], verifier: TokenVerifier) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["followups"], responses=API_PROBLEMS)
    changes = problem_responses(409)
    Worker = Annotated[
        Principal, Depends(bearer(verifier, Role.COUNSELOR, Role.SUPERVISOR, Role.ADMIN))
    ]
    Supervisor = Annotated[Principal, Depends(bearer(verifier, Role.SUPERVISOR, Role.ADMIN))]
    Limit = Annotated[int, Query(ge=1, le=500)]

    @router.get("/followups", response_model=TaskPage, responses=problem_responses(400))
    async def queue(
        who: Worker,
        center_id: Annotated[str, Query(min_length=1)],
        status: Status | None = None,
        due_before: AwareDatetime | None = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Limit = 100,
        contact_id: Annotated[list[str] | None, Query(max_length=50)] = None,
        sla_state: SlaState | None = None,
    ) -> dict[str, Any]:
        """The center's follow-up tasks by due time; `contact_id` (repeatable) narrows them to
        those contacts (a caller's history)."""
        who.require_center(center_id)
        return await svc.work_queue(get(), center_id=center_id, status=str(status) if status else None,
                                    due_before=due_before, cursor=cursor, limit=limit,
                                    contact_ids=contact_id or (),
                                    sla_state=str(sla_state) if sla_state else None)  # fmt: skip

    @router.get("/followups/{followup_id}", response_model=TaskRead)
    async def read(followup_id: str, who: Worker) -> dict[str, Any]:
        doc = await get().tasks.get(followup_id)
        if doc is None:
            raise svc.unknown_followup()
        who.require_center(doc["center_id"], svc.unknown_followup)
        return svc.task_out(doc)

    @router.post("/followups/{followup_id}/attempts", status_code=201, response_model=TaskRead,
                 responses=BODY_PROBLEMS | changes)  # fmt: skip
    async def record_attempt(
        followup_id: str,
        body: AttemptCreate,
        who: Worker,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> dict[str, Any]:
        """Record a call attempt; sent again with the same Idempotency-Key, it counts once."""
        notes = body.documentation.model_dump(mode="json") if body.documentation else None
        doc = await svc.record_attempt(get(), followup_id, body.outcome, who,
                                       idempotency_key=idempotency_key, actor=who.sub,
                                       documentation=notes)  # fmt: skip
        return svc.task_out(doc)

    @router.post("/followups/{followup_id}/claim", response_model=TaskRead, responses=changes)
    async def claim(followup_id: str, who: Worker) -> dict[str, Any]:
        """Take the task (others see it claimed until the claim expires)."""
        return svc.task_out(await svc.claim_task(get(), followup_id, who, take=True))

    @router.post("/followups/{followup_id}/release", response_model=TaskRead, responses=changes)
    async def release(followup_id: str, who: Worker) -> dict[str, Any]:
        """Give the task back to the queue (its holder, or a supervisor)."""
        return svc.task_out(await svc.claim_task(get(), followup_id, who, take=False))

    @router.post("/followups/{followup_id}/assign", response_model=TaskRead,
                 responses=BODY_PROBLEMS | changes)  # fmt: skip
    async def assign(followup_id: str, body: AssignTask, who: Supervisor) -> dict[str, Any]:
        """Give the task to a worker (it shows claimed by them); audited."""
        return svc.task_out(await svc.assign_task(get(), followup_id, body.worker, who))

    @router.get("/alerts", response_model=AlertPage)
    async def alerts(
        who: Supervisor,
        center_id: Annotated[str, Query(min_length=1)],
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """The supervisors' alert feed, newest first: high and imminent risk, documentation
        overdue, SLA at risk, breached and missed, break-glass, PHI-read bursts."""
        who.require_center(center_id)
        return {"items": await svc.recent_alerts(get(), center_id, limit), "next_cursor": None}

    @router.post("/alerts/{alert_id}/acknowledge", response_model=AlertRead)
    async def acknowledge(alert_id: str, who: Supervisor) -> dict[str, Any]:
        """Who and when (the first acknowledgement counts); audited."""
        return await svc.acknowledge_alert(get(), alert_id, who)

    @router.get("/kpis/followups", response_model=FollowupKpiIntervals)
    async def followup_kpis(
        who: Supervisor,
        center_id: Annotated[str, Query(min_length=1)],
        start: Annotated[AwareDatetime, Query(alias="from")],
        end: Annotated[AwareDatetime, Query(alias="to")],
        interval: Interval = Interval.DAY,
    ) -> dict[str, Any]:
        """The follow-up funnel by kind and SLA breaches per interval, from stored facts."""
        who.require_center(center_id)
        checked_window(start, end, interval.step)
        return await svc.followup_kpi_intervals(get(), center_id=center_id, start=start, end=end,
                                                step=interval.step)  # fmt: skip

    @router.post("/followups/{followup_id}/schedule", response_model=TaskRead,
                 responses=BODY_PROBLEMS | changes)  # fmt: skip
    async def schedule(followup_id: str, body: ScheduleCall, who: Worker) -> dict[str, Any]:
        """The next call at a time agreed with the person, inside calling hours."""
        return svc.task_out(await svc.schedule_call(get(), followup_id, body.at, who))

    @router.get("/caring-series", response_model=SeriesPage)
    async def caring_series(
        who: Worker, center_id: Annotated[str, Query(min_length=1)],
        contact_id: Annotated[str | None, Query(max_length=200)] = None, limit: Limit = 100,
    ) -> dict[str, Any]:  # fmt: skip
        """A center's caring-contacts series (no destination, no message text)."""
        who.require_center(center_id)
        query: dict[str, Any] = {"center_id": center_id}
        if contact_id:
            query["contact_id"] = contact_id
        docs = await get().caring.series.page(query, limit)
        return {"items": [caring.series_out(d) for d in docs]}

    @router.get("/caring-series/{series_id}", response_model=SeriesRead)
    async def read_series(series_id: str, who: Worker) -> dict[str, Any]:
        doc = await get().caring.series.get(series_id)
        if doc is None:
            raise caring.unknown_series()
        who.require_center(doc["center_id"], caring.unknown_series)
        return caring.series_out(doc)

    @router.post("/caring-series/{series_id}/stop", response_model=SeriesRead)
    async def stop_series(series_id: str, who: Worker) -> dict[str, Any]:
        """The person asked for no more messages: the rest of the series is cancelled."""
        return caring.series_out(await caring.stop_series(get().caring, series_id, who))

    @router.get("/sla/summary", response_model=SlaSummary)
    async def summary(
        who: Supervisor, center_id: Annotated[str, Query(min_length=1)]
    ) -> dict[str, Any]:
        who.require_center(center_id)
        return await svc.sla_summary(get(), center_id)

    @router.get("/sla/breaches", response_model=TaskPage, responses=problem_responses(400))
    async def breaches(
        who: Supervisor,
        center_id: Annotated[str, Query(min_length=1)],
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        who.require_center(center_id)
        return await svc.work_queue(get(), center_id=center_id, status=None, due_before=None, cursor=cursor,
                                    limit=limit, sla_state="breached")  # fmt: skip

    return router


TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def messaging_router(get: Callable[[], caring.Caring], public_url: str | None) -> APIRouter:
    """Twilio Messaging webhooks, signed with the center's auth token: a caller's reply
    (STOP opts out) and the delivery report of a message we sent."""
    # Signed by Twilio, not a bearer token: declared here, checked by `signed` below.
    router = APIRouter(prefix="/v1/messaging/twilio", tags=["messaging"],
                       dependencies=[Security(TWILIO_SIGNATURE)],
                       responses=problem_responses(400, 403, 404, 413, 422, 500, 503))  # fmt: skip

    async def signed(request: Request, center_id: str) -> tuple[Center, dict[str, str]]:
        center = get().centers.get(center_id)
        if center is None:
            raise Problem(404, "Unknown center", field="center_id")
        body = await request.body()  # bounded before this runs (hotline_shared.guard)
        url = signatures.public(str(request.url), public_url)
        given = request.headers.get(signatures.SIGNATURE_HEADER)
        return center, signatures.signed_form(body, token=center.twilio_auth_token, url=url,
                                              given=given)  # fmt: skip

    @router.post("/{center_id}/inbound", response_class=Response,
                 responses={200: {"description": "empty TwiML",
                                  "content": {"text/xml": {"schema": {"type": "string"}}}}})  # fmt: skip
    async def inbound(center_id: str, request: Request) -> Response:
        """A caller's reply; the answer is empty TwiML (Twilio confirms opt-outs itself)."""
        center, form = await signed(request, center_id)
        await caring.inbound_message(get(), center, form)
        return Response(TWIML_EMPTY, media_type="text/xml")

    @router.post("/{center_id}/status", status_code=204)
    async def status(center_id: str, request: Request) -> None:
        center, form = await signed(request, center_id)
        await caring.delivery_status(get(), center, form)

    return router
