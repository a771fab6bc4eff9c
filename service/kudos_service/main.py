"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kudos_service.api.errors import install_error_handlers
from kudos_service.api.middleware import RequestLimits, RequestLimitsMiddleware
from kudos_service.api.openapi import install_openapi
from kudos_service.api.routes import (
    awards,
    claim_page,
    claims,
    health,
    keys,
    kinds,
    operations,
    recipients,
    slack,
    tokens,
    wallets,
)
from kudos_service.api.routes import pages as html_pages
from kudos_service.claims.links import redact_links
from kudos_service.core.config import Settings
from kudos_service.state import AppState, build_state

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def _redact_claim_links(record: logging.LogRecord) -> bool:
    """Cut claim tokens out of the access log's request paths (a claim link is a credential)."""
    if isinstance(record.args, tuple):
        record.args = tuple(redact_links(a) if isinstance(a, str) else a for a in record.args)
    return True


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """The kudos API. The embedded chain is opened (and the contract deployed) at start; a real chain is
    reached by the worker, which keeps retrying while the node is down."""
    app_state = state or build_state(settings or Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if app_state.settings.embedded:
            app_state.chain.get()
        if app_state.settings.run_worker:
            app_state.worker.start()
            if app_state.mailer.smtp is not None:
                app_state.mailer.requeue_kept()  # kept while there was no mail server
            app_state.mailer.start()
        try:
            yield
        finally:
            app_state.accepts.stop()
            app_state.mailer.stop()
            app_state.worker.stop()
            app_state.api_keys.close()  # the last uses of keys being written

    app = FastAPI(
        title="kudos-chain",
        summary="Award kudos, recognition as non-fungible tokens, exactly once.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.kudos = app_state
    install_error_handlers(app)
    settings = app_state.settings
    limits = RequestLimits(
        max_body_bytes=settings.max_body_bytes,
        max_anonymous_body_bytes=settings.max_anonymous_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    app.add_middleware(
        RequestLimitsMiddleware,
        limits=limits,
        routes=lambda: app.router.routes,
        documented=lambda: app.openapi()["paths"],
    )
    for module in (awards, kinds, recipients, keys, wallets, tokens, operations, claims, slack, health):
        app.include_router(module.router)
    app.include_router(claims.admin_router)
    app.include_router(html_pages.router)  # the wallet pages for people, in HTML
    app.include_router(claim_page.router)  # the claim page of a person without a wallet, in HTML
    install_openapi(app)  # every refusal, the error envelope, bearer auth: see api/openapi.py
    logging.getLogger("uvicorn.access").addFilter(_redact_claim_links)
    return app
