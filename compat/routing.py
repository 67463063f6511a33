"""One path, a view per HTTP method: where a seed used another method on one of our paths."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def by_method(*, otherwise: Callable, **views: Callable) -> Callable:
    """A view that hands ``PUT=...`` (etc.) requests to their alias and every other method to
    ``otherwise``, the path's own view. The schema generator sees the alias (``cls``); the
    path's own view documents itself through its own URL pattern, further down."""

    def route(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return views.get(request.method or "", otherwise)(request, *args, **kwargs)

    alias = next(iter(views.values()))
    route.cls = alias.cls  # type: ignore[attr-defined]
    route.initkwargs = alias.initkwargs  # type: ignore[attr-defined]
    route.csrf_exempt = True  # type: ignore[attr-defined]  # each view enforces CSRF itself
    return route
