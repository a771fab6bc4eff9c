"""Delivery: the outbox of chain writes and the worker that carries them out exactly once.

- :mod:`.outbox`: operations (award batches, revocations, recoveries, contract calls) and their signed versions,
  stored before anything is broadcast; the one place nonces are given.
- :mod:`.worker`: the loop that signs, sends, follows and confirms them, several in flight at once.
- :mod:`.fees`: replacing a transaction that is not mined, within the fee cap.
- :mod:`.reconcile`: receipts, confirmation depth, reorgs, dropped transactions, nonces used by another sender,
  and a node that answers for another chain.
"""

from kudos_service.delivery.outbox import DeliveryError, OperationNotFoundError, TokenNotAwardedError, request_revoke
from kudos_service.delivery.worker import Worker

__all__ = ["DeliveryError", "OperationNotFoundError", "TokenNotAwardedError", "Worker", "request_revoke"]
