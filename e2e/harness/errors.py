"""Errors raised by the harness."""

from __future__ import annotations

from typing import Any


class HarnessError(RuntimeError):
    """A process failed to start or a helper timed out; carries the log tails."""


class MatrixError(RuntimeError):
    """A client-server API call answered with a non-2xx status."""

    def __init__(self, method: str, url: str, status: int, body: Any):
        super().__init__(f"{method} {url} -> {status}: {body}")
        self.status = status
        self.body = body

    @property
    def errcode(self) -> str | None:
        """The Matrix ``errcode`` of the error body, if any."""
        return self.body.get("errcode") if isinstance(self.body, dict) else None
