"""Domain errors: each carries the HTTP status it maps to; one API middleware renders them."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the caller can act on. `field` names the offending input for 422s."""

    status = 400
    title = "Bad Request"
    retry_after: int | None = None  # seconds, sent as Retry-After (503s: when a retry may succeed)

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class InvalidInput(DomainError):
    status = 422
    title = "Unprocessable Content"


class NotFound(DomainError):
    status = 404
    title = "Not Found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Unavailable(DomainError):
    status = 503
    title = "Service Unavailable"
    retry_after = 1


class ShardDown(Unavailable):
    """The event's engine shard has no live engine: refused at once, nothing was sent."""


class Expired(Unavailable):
    """The command reached the engine past its deadline and was dropped with no effect."""


class Refused(Unavailable):
    """The engine would not run the command: not its shard under its map, or a bad signature."""


class Fenced(Unavailable):
    """The engine lost its shard to a newer owner (PostgreSQL refused its write): nothing was committed,
    and the command goes back to the shard's queue for the owner."""


class AccessUnchecked(NotFound):
    """A `Book(public_only=True)` for an event that is not public: the sender must check membership."""


ERROR_TYPES: dict[str, type[DomainError]] = {
    cls.__name__: cls for cls in (InvalidInput, NotFound, Conflict, Unauthorized, Forbidden, Unavailable,
                                  AccessUnchecked, ShardDown, Expired, Refused, Fenced)
}
