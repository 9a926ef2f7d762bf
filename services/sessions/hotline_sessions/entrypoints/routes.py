"""Sessions HTTP API: read, autosave notes and safety plan, close, addenda."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from hotline_shared.auth import Principal, Role, TokenVerifier, bearer
from hotline_shared.events import RiskLevel
from hotline_shared.problems import API_PROBLEMS, BODY_PROBLEMS, Problem, problem_responses
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from hotline_sessions import service_layer as svc
from hotline_sessions.domain.documentation import MAX_NOTES_BYTES, Notes, SafetyPlan
from hotline_sessions.domain.quality import Rubric
from hotline_sessions.domain.session import CaringChannel, Disposition
from hotline_sessions.service_layer import Sessions


class SessionClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disposition: Disposition | None = None
    risk_level: RiskLevel | None = Field(
        default=None, description="defaults to the latest assessed"
    )
    escalated: StrictBool | None = None
    followup_consent: StrictBool = False
    caring_contacts_consent: StrictBool = False
    caring_contacts_channel: CaringChannel | None = None
    risk_reason: str | None = Field(
        default=None,
        max_length=2_000,
        description="why a supervisor closes below the assessed risk (required then)",
    )


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: Rubric
    comments: str = Field(default="", max_length=4_000)


class AddendumCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)


# ---- what the routes answer (read models; a key a stored record lacks stays absent) ---------

Content = dict[str, Any]  # a decrypted Notes or SafetyPlan document, as it was saved


class CloseRead(BaseModel):
    disposition: str | None = None
    risk_level: str | None = None
    escalated: bool | None = None
    followup_consent: bool | None = None
    caring_contacts_consent: bool | None = None
    caring_contacts_channel: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    risk_lowered: bool | None = None


class ReviewRead(BaseModel):
    scores: dict[str, int] = Field(description="a score per crisis-intervention step")
    comments: str
    by: str
    at: datetime


class AddendumRead(BaseModel):
    author: str
    at: datetime
    text_sha256: str
    signature: str = Field(description="HMAC over session, author, time and text digest")


class SessionRead(BaseModel):
    id: str
    contact_id: str
    center_id: str
    leg: int
    previous_session_id: str | None
    status: str = Field(description="open | closed")
    version: int = Field(description="the notes' version (send it as If-Match)")
    notes: Content | None
    safety_plan_version: int
    safety_plan: Content | None
    close: CloseRead | None
    review: ReviewRead | None
    addenda: list[AddendumRead]


class SessionPage(BaseModel):
    items: list[SessionRead]
    next_cursor: str | None = None


class PreviousSafetyPlan(BaseModel):
    """The caller's latest earlier safety plan in this center; both null when none."""

    session_id: str | None
    contact_id: str | None = None
    opened_at: datetime | None = None
    version: int | None = None
    safety_plan: Content | None


class NotesSaved(BaseModel):
    id: str
    version: int


class SafetyPlanSaved(BaseModel):
    id: str
    safety_plan_version: int


class VersionRead(BaseModel):
    version: int
    author: str
    at: datetime
    content: Content | None


class VersionPage(BaseModel):
    items: list[VersionRead]
    next_cursor: str | None = None


class SessionClosedRead(BaseModel):
    id: str
    status: str
    close: CloseRead | None


class ReviewSaved(BaseModel):
    id: str
    review: ReviewRead


class QaSampleItem(BaseModel):
    counselor: str
    session_id: str
    contact_id: str
    closed_at: datetime | None
    disposition: str | None
    reviewed: bool


class QaSamplePage(BaseModel):
    items: list[QaSampleItem]
    next_cursor: str | None = None


def base_version(if_match: str | None) -> int:
    if if_match is None:
        raise Problem(
            428, "If-Match required", detail="send the version you edited", field="If-Match"
        )
    try:
        return int(if_match.strip().strip("W/").strip('"'))
    except ValueError as exc:
        raise Problem(
            400, "Invalid If-Match", detail="expected a version number", field="If-Match"
        ) from exc


def build_router(get: Callable[[], Sessions], verifier: TokenVerifier) -> APIRouter:
    router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=API_PROBLEMS)
    edit_problems = BODY_PROBLEMS | problem_responses(400, 409, 428)
    Clinician = Annotated[Principal, Depends(bearer(verifier, Role.COUNSELOR, Role.SUPERVISOR))]
    Supervisor = Annotated[Principal, Depends(bearer(verifier, Role.SUPERVISOR, Role.ADMIN))]
    IfMatch = Annotated[str | None, Header()]

    @router.get(
        "",
        response_model=SessionPage,
        responses=problem_responses(429),
        response_model_exclude_unset=True,
    )
    async def list_sessions(
        who: Clinician, contact_id: Annotated[str, Query(min_length=1)]
    ) -> dict[str, Any]:
        docs = await get().store.by_contact(contact_id)
        items = []
        for doc in docs:
            if svc.may_work_on(who, doc):
                items.append(await svc.read_session(get(), doc["_id"], who))
        return {"items": items, "next_cursor": None}

    @router.get("/{session_id}", response_model=SessionRead, responses=problem_responses(429),
                response_model_exclude_unset=True)  # fmt: skip
    async def read(session_id: str, who: Clinician) -> dict[str, Any]:
        return await svc.read_session(get(), session_id, who)

    @router.get("/{session_id}/previous-safety-plan", response_model=PreviousSafetyPlan,
                responses=problem_responses(429), response_model_exclude_unset=True)  # fmt: skip
    async def previous_safety_plan(session_id: str, who: Clinician) -> dict[str, Any]:
        """The caller's safety plan from their latest earlier session in this center."""
        return await svc.last_safety_plan(get(), session_id, who)

    @router.put("/{session_id}/notes", response_model=NotesSaved, responses=edit_problems)
    async def put_notes(
        session_id: str, notes: Notes, who: Clinician, if_match: IfMatch = None
    ) -> dict[str, Any]:
        _size_guard(notes)
        version = await svc.save_version(get(), session_id=session_id, kind="notes",
                                         base=base_version(if_match), content=notes, who=who)  # fmt: skip
        return {"id": session_id, "version": version}

    @router.get("/{session_id}/notes/versions", response_model=VersionPage,
                responses=problem_responses(429))  # fmt: skip
    async def notes_history(session_id: str, who: Clinician) -> dict[str, Any]:
        return {
            "items": await svc.list_versions(get(), session_id, "notes", who),
            "next_cursor": None,
        }

    @router.put("/{session_id}/safety-plan", response_model=SafetyPlanSaved,
                responses=edit_problems)  # fmt: skip
    async def put_plan(
        session_id: str, plan: SafetyPlan, who: Clinician, if_match: IfMatch = None
    ) -> dict[str, Any]:
        version = await svc.save_version(get(), session_id=session_id, kind="safety-plan",
                                         base=base_version(if_match), content=plan, who=who)  # fmt: skip
        return {"id": session_id, "safety_plan_version": version}

    @router.post("/{session_id}/close", response_model=SessionClosedRead, responses=BODY_PROBLEMS,
                 response_model_exclude_unset=True)  # fmt: skip
    async def close(session_id: str, body: SessionClose, who: Clinician) -> dict[str, Any]:
        request = svc.CloseRequest(**body.model_dump())
        doc = await svc.close_session(get(), session_id, request, who)
        return {"id": doc["_id"], "status": doc["status"], "close": svc.close_out(doc["close"])}

    @router.post("/{session_id}/addenda", status_code=201, response_model=AddendumRead,
                 responses=BODY_PROBLEMS | problem_responses(409))  # fmt: skip
    async def addendum(session_id: str, body: AddendumCreate, who: Clinician) -> dict[str, Any]:
        return await svc.add_addendum(get(), session_id, body.text, who)

    @router.put("/{session_id}/review", response_model=ReviewSaved,
                responses=BODY_PROBLEMS | problem_responses(409))  # fmt: skip
    async def review(session_id: str, body: ReviewCreate, who: Supervisor) -> dict[str, Any]:
        """A supervisor's quality review of a closed session; the counselor sees it."""
        result = await svc.review_session(get(), session_id, body.scores, body.comments, who)
        return {"id": session_id, "review": result}

    return router


def build_qa_router(get: Callable[[], Sessions], verifier: TokenVerifier) -> APIRouter:
    router = APIRouter(prefix="/v1/qa", tags=["quality"], responses=API_PROBLEMS)
    Supervisor = Annotated[Principal, Depends(bearer(verifier, Role.SUPERVISOR, Role.ADMIN))]

    @router.get("/sample", response_model=QaSamplePage)
    async def qa_sample(
        who: Supervisor,
        center_id: Annotated[str, Query(min_length=1)],
        week: Annotated[
            str,
            Query(
                pattern=r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$", description="ISO week, e.g. 2026-W48"
            ),
        ],
        size: Annotated[int, Query(ge=1, le=50)] = 3,
    ) -> dict[str, Any]:
        """The week's random sample of each counselor's closed sessions (the same for everyone
        who asks)."""
        who.require_center(center_id)
        try:
            items = await svc.qa_sample(get(), center_id=center_id, week=week, size=size)
        except ValueError as exc:
            raise Problem(422, "No such week", field="week", detail=str(exc)) from exc
        return {"items": items, "next_cursor": None}

    return router


def _size_guard(notes: Notes) -> None:
    if len(notes.model_dump_json()) > MAX_NOTES_BYTES:
        raise Problem(
            422, "Notes too large", detail=f"at most {MAX_NOTES_BYTES} bytes", field="notes"
        )
