"""Errors raised by service-task handlers."""


class HandlerError(Exception):
    """Reject a handler call whose input cannot be processed (e.g. an unknown application)."""

    def __init__(self, message: str) -> None:
        """Store the human-readable message shown to the operator."""
        super().__init__(message)
        self.message = message


class Unavailable(HandlerError):
    """A state system did not answer in time, refused the connection or answered 5xx.

    Transient: the engine retries per the diagram's retry setting, then raises an incident.
    """


class BadAnswer(HandlerError):
    """A state system answered something that is not what its protocol promises."""
