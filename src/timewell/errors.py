"""The kinds of failure a user can cause, each mapped to one HTTP status in `server/errors.py`.

Modules raise specific subclasses whose messages say what to do; the HTTP layer only looks at
the kind.
"""

from __future__ import annotations


class TimewellError(Exception):
    """Base of every error whose message is meant for the user."""


class InvalidRequest(TimewellError, ValueError):
    """The request is malformed or names something invalid (400)."""


class NotFound(TimewellError, LookupError):
    """The request names something that does not exist (404)."""


class AlreadyExists(TimewellError):
    """The request would create something that exists already (409)."""


class Conflict(TimewellError):
    """The resource's state does not allow this (e.g. it was deleted) (409)."""


class Forbidden(TimewellError):
    """The server's configuration refuses this, whoever asks (403)."""


class NotAllowed(TimewellError):
    """The request is not allowed on this resource, whoever sends it (405)."""


class PayloadTooLarge(TimewellError):
    """The request body is larger than the server accepts (413)."""


class LimitExceeded(TimewellError):
    """A configured limit (columns per table, ...) stops the request (422)."""


class Cancelled(TimewellError):
    """The request was stopped on purpose while it ran (a killed query) (409)."""


class TimedOut(TimewellError):
    """The request ran past its time limit and was stopped (408)."""


class Unavailable(TimewellError):
    """The server cannot do this now (shutting down, storage failing) (503)."""


class Overloaded(Unavailable):
    """Refused for now to protect the server (buffered data at its memory limit); the client
    should retry after `retry_after_s` seconds (503 with a Retry-After header)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
