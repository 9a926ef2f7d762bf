"""What every hotline service process is: one FastAPI app + its Kafka subscribers + Mongo.

`Runtime` holds the clients; `create_app` wires health, readiness, metrics, problem+json,
the subscribers and periodic jobs into one lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from hotline_shared.auth import TokenVerifier
from hotline_shared.centers import Centers, load_centers
from hotline_shared.clock import Clock, SystemClock
from hotline_shared.guard import RequestGuard
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document, database, make_client, ping
from hotline_shared.problems import install_problem_handlers, problem_response, problem_responses
from hotline_shared.settings import KafkaSettings, MongoSettings, SecuritySettings
from hotline_shared.tracing import configure_tracing, fastapi_telemetry

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    service: str
    kafka: KafkaSettings
    mongo: MongoSettings
    security: SecuritySettings
    bus: EventBus
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    centers: Centers
    verifier: TokenVerifier
    clock: Clock = field(default_factory=SystemClock)


def create_runtime(service: str, *, clock: Clock | None = None) -> Runtime:
    kafka, mongo, security = KafkaSettings(), MongoSettings(), SecuritySettings()
    configure_tracing(service)  # before the clients exist, so their calls are traced
    client = make_client(mongo)
    return Runtime(
        service=service,
        kafka=kafka,
        mongo=mongo,
        security=security,
        bus=EventBus(kafka, client_id=f"hotline-{service}"),
        client=client,
        db=database(client, mongo, f"hotline_{service}"),
        centers=load_centers(security.centers_file),
        verifier=TokenVerifier(security),
        clock=clock or SystemClock(),
    )


class ServiceStatus(BaseModel):
    status: str
    service: str


GAUGE_SECONDS = 15.0  # how often a service counts its stored state for its gauges


@dataclass(frozen=True)
class Periodic:
    """A job run every `seconds` for the life of the process (relays, timers, monitors)."""

    name: str
    seconds: float
    run: Callable[[], Awaitable[object]]


async def _run_periodic(job: Periodic) -> None:
    while True:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("periodic.failed", job=job.name, exc_info=exc)  # type and stack, no text
        await asyncio.sleep(job.seconds)  # the job's schedule, not test synchronisation


def create_app(
    runtime: Runtime,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    startup: Callable[[Runtime], Awaitable[None]] | None = None,
    shutdown: Callable[[Runtime], Awaitable[None]] | None = None,
    periodic: Sequence[Periodic] = (),
    ready: Callable[[], bool] = lambda: True,
    bearer_first: bool = True,
    produces: Sequence[str] = (),
) -> FastAPI:
    """`ready`: a readiness condition of the service's own (beyond MongoDB and Kafka);
    `bearer_first`: JSON writes need a bearer token before their body is read (every API
    service; the console authenticates by its session cookie instead); `produces`: the
    topics the service publishes to (for its AsyncAPI document)."""
    runtime.bus.produces(*produces)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if startup is not None:
            await startup(runtime)
        await runtime.bus.start()
        tasks = [asyncio.create_task(_run_periodic(job), name=job.name) for job in periodic]
        log.info("service.started", service=runtime.service)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if shutdown is not None:
                await shutdown(runtime)
            await runtime.bus.stop()
            await runtime.client.close()

    app = FastAPI(title=title, version="1", lifespan=lifespan, telemetry=fastapi_telemetry())
    install_problem_handlers(app)
    app.add_middleware(RequestGuard, verifier=runtime.verifier, bearer_first=bearer_first)

    # The ops routes: public (no credentials, by design), JSON or Prometheus text.
    public: dict[str, list[object]] = {"security": []}

    @app.get("/healthz", tags=["ops"], response_model=ServiceStatus, openapi_extra=public)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.service}

    @app.get("/readyz", tags=["ops"], response_model=ServiceStatus, openapi_extra=public,
             responses=problem_responses(503))  # fmt: skip
    async def readyz() -> Response | dict[str, str]:
        try:
            await asyncio.wait_for(ping(runtime.client), timeout=3)
            kafka_ok = await runtime.bus.broker.ping(timeout=3)
        except Exception as exc:
            return problem_response(503, "Not ready", detail=type(exc).__name__)
        if not kafka_ok:
            return problem_response(503, "Not ready", detail="Kafka unreachable")
        if not ready():
            return problem_response(503, "Not ready", detail="starting")
        return {"status": "ready", "service": runtime.service}

    @app.get("/metrics", tags=["ops"], response_class=Response, openapi_extra=public,
             responses={200: {"description": "Prometheus text exposition",
                              "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})  # fmt: skip
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi", tags=["ops"], openapi_extra=public)
    async def asyncapi() -> dict[str, Any]:
        """The service's AsyncAPI 3 document: the events it consumes and publishes."""
        return runtime.bus.asyncapi(title=title)

    for router in routers:
        app.include_router(router)
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/healthz", "/readyz", "/metrics"],
    ).instrument(app, metric_namespace="", metric_subsystem="")
    return app


def serve(app: FastAPI, *, host: str, port: int) -> None:
    # log_config=None: uvicorn's records go through our pipeline (configure_logging)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)
