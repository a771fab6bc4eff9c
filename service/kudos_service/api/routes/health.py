"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import update

from kudos_service.api.deps import StateDep
from kudos_service.chain import describe_error
from kudos_service.models import Deployment

router = APIRouter(tags=["health"])

#: Gas of one kudos in a batch, with headroom: the signer must afford a full batch at the current fee.
_GAS_PER_KUDOS = 60_000


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def _check_database(state: StateDep) -> dict[str, Any]:
    try:
        with state.db.engine.connect() as conn, conn.begin() as tx:
            conn.execute(update(Deployment).values(id=Deployment.id))
            tx.rollback()
    except Exception as exc:
        return {"ok": False, "error": f"the database is not writable: {exc.__class__.__name__}"}
    return {"ok": True}


def _check_chain(state: StateDep) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        ctx = state.chain.get()
        block = ctx.chain.block_number()
        max_fee, _ = ctx.manager.current_fees()
        balance = ctx.chain.balance(ctx.signer.address)
    except Exception as exc:
        error = {"ok": False, "error": f"the chain cannot be reached: {describe_error(exc, state.settings)}"}
        return error, {"ok": False, "error": "unknown while the chain cannot be reached"}
    chain = {"ok": True, "chain_id": ctx.chain_id, "block": block, "contract_address": ctx.client.address}
    needed = state.settings.batch_max_size * _GAS_PER_KUDOS * max_fee
    signer: dict[str, Any] = {"ok": balance >= needed, "address": ctx.signer.address, "balance_wei": balance}
    if balance < needed:
        signer["error"] = f"the signer holds {balance} wei, less than one full batch needs ({needed} wei)"
    return chain, signer


@router.get("/readyz")
def readyz(state: StateDep) -> JSONResponse:
    """Ready when the chain answers, the database takes writes and the signer can pay for a batch."""
    chain, signer = _check_chain(state)
    checks: dict[str, Any] = {"chain": chain, "database": _check_database(state), "signer": signer}
    blocked = state.worker.blocked_reason
    checks["delivery"] = {"ok": blocked is None, "queue_depth": state.worker.queue_depth()}
    if blocked is not None:
        checks["delivery"]["error"] = blocked
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(state: StateDep) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
