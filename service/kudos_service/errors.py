"""The service's domain errors: what the domain refuses, with a machine-readable code and a sentence.

Domain code (accepting awards, the outbox, recipient checks) raises these; ``api/errors.py`` turns each into its
HTTP answer, so that nothing below ``api/`` knows about HTTP::

    ServiceError                 a refusal: code, message, details
    ├── InvalidRequestError           the request cannot be carried out as it is (HTTP 422)
    ├── ForbiddenError                the caller may not do this (HTTP 403)
    ├── ConflictError                 it contradicts what was stored (HTTP 409)
    ├── NotFoundError                 what it names does not exist (HTTP 404)
    └── GoneError                     what it names existed and no longer does (HTTP 410)
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConflictError", "ForbiddenError", "GoneError", "InvalidRequestError", "NotFoundError", "ServiceError"]


class ServiceError(Exception):
    """A refusal of the domain.

    :param code: the machine-readable code (one of the API's documented error codes).
    :param message: one sentence for people.
    :param details: ``{"field", "message"}`` items (``"index"`` too, for an item of a batch).
    """

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []


class InvalidRequestError(ServiceError):
    """The request cannot be carried out as it is."""


class ForbiddenError(ServiceError):
    """The caller may not do this (an API key that would hand out more than it holds)."""


class ConflictError(ServiceError):
    """The request contradicts what was stored before."""


class NotFoundError(ServiceError):
    """What the request names does not exist."""


class GoneError(ServiceError):
    """What the request names existed and no longer does."""
