"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import delete

from kudos_chain.exceptions import FeeCapExceededError
from kudos_service.api.deps import StateDep
from kudos_service.api.errors import first_line as _first_line
from kudos_service.api.openapi import Readiness
from kudos_service.chain_access import describe_error
from kudos_service.delivery.fees import eth
from kudos_service.models import StorageProbe

router = APIRouter(tags=["health"])

#: Gas of one kudos in a batch, with headroom: the signer must afford a full batch at the current fee.
_GAS_PER_KUDOS = 60_000


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


#: What the probe stores and deletes at once: two pages, so that a database which cannot grow says so.
_PROBE = bytes(8192)


def _check_database(state: StateDep) -> dict[str, Any]:
    """Store a row and delete it again, each committed: the write path of an award (new pages, the log, the
    commit's sync) exercised for real, so a full disk or a read-only file reads as not ready, and as ready again
    as soon as the database takes writes."""
    try:
        with state.db.session() as session:
            probe = StorageProbe(payload=_PROBE)
            session.add(probe)
            session.flush()
            probe_id = probe.id
        with state.db.session() as session:
            session.execute(delete(StorageProbe).where(StorageProbe.id == probe_id))
    except Exception as exc:
        return {"ok": False, "error": f"the database does not take writes: {_first_line(exc)}"}
    return {"ok": True}


def _check_chain(state: StateDep) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        ctx = state.chain.get()
        block = ctx.chain.block_number()
        balance = ctx.chain.balance(ctx.signer.address)
    except Exception as exc:
        error = {"ok": False, "error": f"the chain cannot be reached: {describe_error(exc, state.settings)}"}
        return error, {"ok": False, "error": "unknown while the chain cannot be reached"}
    chain = {"ok": True, "chain_id": ctx.chain_id, "block": block, "contract_address": ctx.client.address}
    signer: dict[str, Any] = {"ok": True, "address": ctx.signer.address, "balance_wei": balance}
    try:
        max_fee, _ = ctx.manager.current_fees()
    except FeeCapExceededError as exc:  # the fee is above the cap: delivery says so; the balance is judged at the cap
        max_fee = exc.cap_wei
    except Exception as exc:
        signer.update(ok=False, error=f"the fees cannot be read: {describe_error(exc, state.settings)}")
        return chain, signer
    needed = state.settings.batch_max_size * _GAS_PER_KUDOS * max_fee
    if balance < needed:
        signer.update(
            ok=False,
            error=f"the signer {ctx.signer.address} holds {eth(balance)}, less than one full batch needs at the "
            f"current fees ({eth(needed)}): awards wait in the queue until it is funded",
        )
    return chain, signer


@router.get(
    "/readyz",
    responses={
        200: {"model": Readiness, "description": "Ready: every check is ok."},
        503: {"model": Readiness, "description": "Not ready: the checks that failed say why (`error`)."},
    },
)
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


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus metrics, text format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(state: StateDep) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
