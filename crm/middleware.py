"""A request that cannot be served because PostgreSQL (or Redis, where a request truly needs
it) is unreachable answers 503 with ``Retry-After`` and the API's error body, never a 500."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext_lazy

from crm import outage

_DETAIL = {
    "database": gettext_lazy("The database is unavailable; try again shortly."),
    "redis": gettext_lazy("A service this request needs is unavailable; try again shortly."),
    "service": gettext_lazy("A service this request needs is unavailable; try again shortly."),
}


def service_unavailable(part: str) -> JsonResponse:
    response = JsonResponse(
        {
            "detail": str(_DETAIL.get(part, _DETAIL["redis"])),
            "code": "service_unavailable",
            "retry_after": outage.RETRY_AFTER_SECONDS,
        },
        status=503,
    )
    response["Retry-After"] = str(outage.RETRY_AFTER_SECONDS)
    return response


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """Turns "the database/Redis is unreachable" raised by a view into a 503."""

    def process_exception(self, request: HttpRequest, exception: Exception):
        part = outage.part_down(exception)
        if part is None:
            return None
        outage.report(f"{part} (requests)", exception)
        return service_unavailable(part)


class WebSocketOutageGuard:
    """ASGI wrapper of the WebSocket stack: when the database or Redis fails while a socket
    is being authenticated or served, the socket is closed with 1011 (accepted first if need
    be, so the client sees a close code and reconnects) instead of a failed handshake."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        state = {"accepted": False, "closed": False}

        async def tracking_send(message):
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        tracking_send.__wrapped__ = send  # crm.hub writes to daphne's socket directly
        try:
            return await self.inner(scope, receive, tracking_send)
        except Exception as exc:
            if outage.part_down(exc) is None:
                raise
            outage.report("websocket", exc)
            if state["closed"]:
                return None
            if not state["accepted"]:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1011})
            return None
