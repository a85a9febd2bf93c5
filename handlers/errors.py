"""Errors raised by service-task handlers."""


class HandlerError(Exception):
    """Reject a handler call whose input cannot be processed (e.g. an unknown application)."""

    def __init__(self, message: str) -> None:
        """Store the human-readable message shown to the operator."""
        super().__init__(message)
        self.message = message
