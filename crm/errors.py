"""Domain errors and the one JSON error shape for the API.

Every error an API client sees is ``{"detail": <human text>, "code": <machine code>}``;
validation errors also keep DRF's per-field map beside those two keys. Services raise
``DomainError`` subclasses; the exception handler here (and the WebSocket consumer) turn them
into that shape, so HTTP and WebSocket clients see the same codes.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class SecretSettingsFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding URLs, cache locations and channel-layer hosts."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|LOCATION|HOSTS|ADDRESS",
        flags=re.IGNORECASE,
    )


class DomainError(Exception):
    """A business rule refused the operation. Subclasses fix the HTTP status and code."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "invalid"
    default_detail: str = gettext_lazy("The request could not be completed.")

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        # A plain string in the language of the moment (the request's or connection's): both
        # transports put it into JSON as it is.
        self.detail = str(detail or self.default_detail)
        if code:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        # ``fields`` is a per-field map like DRF's validation errors: it stays at the top level.
        extra = dict(self.extra)
        fields = extra.pop("fields", None) or {}
        return {**_texts(fields), "detail": str(self.detail), "code": self.code, **_texts(extra)}


def _texts(value: Any) -> Any:
    """``value`` with lazy translations read now (JSON encoders want plain strings)."""
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, dict):
        return {key: _texts(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_texts(item) for item in value]
    return value


class ValidationFailed(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
    default_detail = gettext_lazy("Not found.")


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"
    default_detail = gettext_lazy("You do not have permission to perform this action.")


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"
    default_detail = gettext_lazy("The resource changed; reload and try again.")


class RateLimited(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "throttled"
    default_detail = gettext_lazy("Too many requests.")

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **extra):
        super().__init__(detail, **extra)
        self.retry_after = retry_after
        if retry_after is not None:
            self.extra["retry_after"] = retry_after


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return getattr(exc, "default_code", "error")


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        response = Response(exc.as_dict(), status=exc.status_code)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, RequestDataTooBig):
        return Response(_too_large(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handler answers (JSON on /api/)
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        if isinstance(data, dict):
            body = dict(data)
            first = _first_message(data)
            body.setdefault("detail", first or _("Invalid input."))
            body.setdefault("code", "invalid")
        else:
            messages = [str(m) for m in data] if isinstance(data, list) else [str(data)]
            body = {"detail": " ".join(messages) or _("Invalid input."), "code": "invalid"}
        response.data = body
    else:
        detail, code = exc.detail, _code_of(exc)
        if isinstance(detail, dict):  # simplejwt: {"detail", "code", "messages"}
            code = str(detail.get("code") or code)
            detail = detail.get("detail") or _first_message(detail) or _("Not authenticated.")
        response.data = {"detail": str(detail), "code": code}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["retry_after"] = int(exc.wait)
    return response


def _first_message(data: Any) -> str | None:
    if isinstance(data, dict):
        for key, value in data.items():
            message = _first_message(value)
            if message:
                return message if key == "non_field_errors" else f"{key}: {message}"
    elif isinstance(data, list):
        for item in data:
            message = _first_message(item)
            if message:
                return message
    elif data:
        return str(data)
    return None


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _too_large() -> dict:
    return {"detail": _("The request body is too large."), "code": "too_large"}


@csrf_exempt  # it changes nothing, and a CSRF refusal would be an HTML page
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """The last API route: an unknown ``/api/…`` path is a JSON 404 in every mode (with DEBUG,
    Django would answer its HTML page before ``handler404`` is asked)."""
    return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)


def json_or_html_404(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_html_500(request: HttpRequest):
    # Django calls this inside its ``except`` for any uncaught exception, also one raised by a
    # middleware (loading the session while the database is down), where the outage
    # middleware's ``process_exception`` never sees it: an outage is still a 503.
    from crm import outage
    from crm.middleware import service_unavailable

    part = outage.part_down(sys.exc_info()[1])
    if part is not None:
        outage.report(f"{part} (requests)", sys.exc_info()[1])
        return service_unavailable(part)
    if _is_api(request):
        return JsonResponse(
            {"detail": _("Internal server error."), "code": "server_error"}, status=500
        )
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_400(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request) and isinstance(exception, RequestDataTooBig):
        return JsonResponse(_too_large(), status=413)
    if _is_api(request):
        return JsonResponse({"detail": _("Bad request."), "code": "bad_request"}, status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_or_html_403(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return JsonResponse(
            {
                "detail": _("You do not have permission to perform this action."),
                "code": "permission_denied",
            },
            status=403,
        )
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
