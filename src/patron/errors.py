"""One error hierarchy for every domain; each face maps `reason` to its own code and envelope."""

from __future__ import annotations


class PatronError(Exception):
    status = 400
    reason = "invalid_request"
    # Seconds a client should wait before it tries again: every face sends it as `Retry-After`.
    retry_after: int | None = None

    def __init__(self, message: str, *, reason: str | None = None, field: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        if status is not None:
            self.status = status
        self.field = field


class ValidationFailed(PatronError):
    status = 400
    reason = "validation_failed"


def number_out_of_range() -> ValidationFailed:
    """A number too large for where it was meant to go (64-bit integers): bad input, answered as
    a 400 in the face's envelope, its transaction rolled back, instead of a crash or a value
    changed. Both drivers raise OverflowError for it (asyncpg as the cause of its DataError);
    a request body holding one is refused before that (faces.request_json)."""
    return ValidationFailed("a number is out of range", reason="number_out_of_range")


def unstorable_text() -> ValidationFailed:
    """Text holding U+0000, which PostgreSQL's text cannot store (SQLSTATE 22021) and SQLite
    could: refused on both databases alike (db.database), as a 400 in the face's envelope, its
    transaction rolled back."""
    return ValidationFailed("text must not contain the NUL character (U+0000)",
                            reason="unstorable_text")


class NotFound(PatronError):
    status = 404
    reason = "not_found"


class Conflict(PatronError):
    status = 409
    reason = "conflict"


class Unauthorized(PatronError):
    status = 401
    reason = "unauthorized"


class Forbidden(PatronError):
    status = 403
    reason = "forbidden"


class PayloadTooLarge(PatronError):
    status = 413
    reason = "payload_too_large"


class UnsupportedMediaType(PatronError):
    status = 415
    reason = "unsupported_media_type"


class RateLimited(PatronError):
    status = 429
    reason = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdsBehind(PatronError):
    """A new row took an id that a stored row holds: the id sequence (PostgreSQL's `patron_ids`,
    SQLite's `id_counters` row) is behind the stored ids, as after a copy or restore that did
    not move it (docs/operations.md). A server fault, answered as any other (500, "internal
    error"), and logged once, where it is found (db.database), with what to do."""

    status = 500
    reason = "internal_error"

    def __init__(self) -> None:
        super().__init__("internal error")


class DatabaseUnavailable(PatronError):
    """The database could not be reached or read (db.database.unavailable): nothing a client did
    wrong, and likely over soon. What a request was writing may or may not have been committed
    when its connection dropped (docs/operations.md)."""

    status = 503
    reason = "database_unavailable"
    retry_after = 5

    def __init__(self) -> None:
        super().__init__("the database is unavailable; try again")
