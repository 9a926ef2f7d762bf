"""Wiring: settings → clients → routers and subscribers. The one place that knows everything."""

from __future__ import annotations

from fastapi import FastAPI
from hotline_shared.service import create_app, create_runtime


def build_app() -> FastAPI:
    runtime = create_runtime("intake")
    return create_app(runtime, title="hotline intake")
