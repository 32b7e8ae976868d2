"""Errors a user can act on: raised by services, shown as error frames or HTTP 4xx by the adapters."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


class UserError(Exception):
    """Bad input or a forbidden action, with a stable `code` and a `detail` written for people."""

    code = "invalid"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.extra = extra


class NotFound(UserError):
    code = "not_found"
    status = 404


class Forbidden(UserError):
    code = "forbidden"
    status = 403


def json_error(code: str, detail: str, status: int) -> JsonResponse:
    """The JSON APIs' refusal: `{"error": {"code", "detail"}}` with its HTTP status."""
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)
