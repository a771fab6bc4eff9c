"""``/v1/operations``: follow a write to the chain (a revocation) through the outbox."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from kudos_service.api.deps import StateDep, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import AUTH, STORAGE, error_responses
from kudos_service.core.limits import MAX_WAIT
from kudos_service.models import ApiKey, Operation, OpStatus, as_utc
from kudos_service.schemas import OperationOut, WholeNumber
from kudos_service.state import AppState

router = APIRouter(prefix="/v1/operations", tags=["operations"])

WaitQuery = Annotated[
    float, Query(ge=0, le=MAX_WAIT, description="Hold the answer until confirmed or failed, up to this many seconds.")
]

#: The public status of each state of the outbox.
_STATUS = {
    OpStatus.PENDING: "queued",
    OpStatus.IN_FLIGHT: "submitted",
    OpStatus.MINED: "submitted",
    OpStatus.DONE: "confirmed",
    OpStatus.FAILED: "failed",
    OpStatus.SUPERSEDED: "queued",
    OpStatus.ABANDONED: "failed",
}
_FINAL = ("confirmed", "failed")


def operation_out(op: Operation) -> OperationOut:
    """The API's view of an operation."""
    tx_hash = op.tx_hash or (op.versions[-1].tx_hash if op.versions else None)
    return OperationOut(
        id=op.id,
        kind=op.kind.value,
        status=_STATUS[op.status],  # type: ignore[arg-type]
        token_id=op.token_id,
        reason=op.argument if op.kind.value == "revoke" else None,
        tx_hash=tx_hash,
        block_number=op.block_number,
        nonce=op.nonce,
        replacements=op.replacements or 0,
        failure_reason=op.error if op.status in (OpStatus.FAILED, OpStatus.ABANDONED) else None,
        status_reason=op.note if op.status in (OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.MINED) else None,
        created_at=as_utc(op.created_at),
        confirmed_at=None if op.done_at is None else as_utc(op.done_at),
    )


def load_operation(state: AppState, op_id: int, api_key: ApiKey | None) -> OperationOut:
    """The operation ``op_id`` (made with ``api_key``, unless None).

    :raises ApiError: 404 ``operation_not_found``.
    """
    with state.db.session() as session:
        op = session.get(Operation, op_id)
        if op is None or op.kind.value == "award_batch" or (api_key is not None and op.api_key_id != api_key.id):
            raise ApiError(404, "operation_not_found", f"no operation {op_id} was made with this API key")
        return operation_out(op)


async def wait_for_operation(state: AppState, op_id: int, wait: float) -> None:
    """Poll until the operation is final or ``wait`` seconds passed, without holding a thread."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        out = await run_in_threadpool(load_operation, state, op_id, None)
        if out.status in _FINAL:
            return
        await asyncio.sleep(0.05)


@router.get(
    "/{operation_id}",
    response_model=OperationOut,
    responses=error_responses(*AUTH, "operation_not_found", "invalid_request", *STORAGE),
)
async def get_operation(
    operation_id: WholeNumber,
    state: StateDep,
    api_key: Annotated[ApiKey, Depends(require_scope("revoke"))],
    wait: WaitQuery = 0,
) -> OperationOut:
    """Where an operation is: ``queued`` → ``submitted`` → ``confirmed``, or ``failed`` with a reason."""
    await run_in_threadpool(load_operation, state, operation_id, api_key)
    if wait:
        await wait_for_operation(state, operation_id, wait)
    return await run_in_threadpool(load_operation, state, operation_id, api_key)
