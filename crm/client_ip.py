"""The client's address, the one way every part of the project reads it.

``TRUSTED_PROXIES`` says how many proxies stand in front of the server. With 0 (the default)
the socket's peer is the client and ``X-Forwarded-For`` is ignored: anyone can send that header.
With N, each trusted proxy appended the address it saw, so the client is the Nth address from
the right; anything further left was written by the client and is never believed.

HTTP views and throttles (``request_ip``), WebSocket connections (``scope_ip``) and daphne's own
``--proxy-headers`` handling (the access log and the ASGI scope, ``install_daphne_forwarding``)
all go through ``client_ip``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings


def client_ip(peer: str, forwarded_for: str | None, *, trusted: int | None = None) -> str:
    """The client's address from the socket's ``peer`` and an ``X-Forwarded-For`` value."""
    trusted = settings.TRUSTED_PROXIES if trusted is None else trusted
    if trusted <= 0 or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if not hops:
        return peer
    # Fewer hops than proxies: the request skipped one; the leftmost hop is all we have.
    return hops[-min(trusted, len(hops))][:64]


def request_ip(request) -> str:
    meta = request.META
    return client_ip(meta.get("REMOTE_ADDR", "") or "", meta.get("HTTP_X_FORWARDED_FOR"))


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


def scope_ip(scope: dict) -> str:
    """For an ASGI scope (HTTP or WebSocket). daphne without ``--proxy-headers`` gives the
    socket's peer as ``client``; with it, ``install_daphne_forwarding`` made it this same rule."""
    peer = (scope.get("client") or ("", 0))[0] or ""
    return client_ip(peer, _header(scope.get("headers", ()), b"x-forwarded-for"))


def install_daphne_forwarding() -> None:
    """daphne's ``--proxy-headers`` believes the leftmost X-Forwarded-For address, which the
    client writes. Make it apply ``TRUSTED_PROXIES`` instead, for the scope and the access log."""
    import daphne.http_protocol
    import daphne.ws_protocol
    from daphne.utils import parse_x_forwarded_for

    if getattr(daphne.http_protocol.parse_x_forwarded_for, "trusted_proxies", False):
        return

    def parse(
        headers,
        address_header_name="X-Forwarded-For",
        port_header_name="X-Forwarded-Port",
        proto_header_name="X-Forwarded-Proto",
        original_addr=None,
        original_scheme=None,
    ):
        addr, scheme = parse_x_forwarded_for(
            headers,
            address_header_name,
            port_header_name,
            proto_header_name,
            original_addr,
            original_scheme,
        )
        if not address_header_name:
            return addr, scheme
        raw = headers if isinstance(headers, dict) else dict(headers.getAllRawHeaders())
        name = address_header_name.lower().encode()
        values = [v for k, vs in raw.items() if k.lower() == name for v in _as_list(vs)]
        forwarded = b", ".join(values).decode("latin-1") if values else None
        peer = original_addr[0] if original_addr else ""
        ip = client_ip(peer, forwarded)
        if ip == peer:
            return original_addr, scheme
        return [ip, addr[1] if addr and addr[0] == ip else 0], scheme

    parse.trusted_proxies = True  # type: ignore[attr-defined]
    daphne.http_protocol.parse_x_forwarded_for = parse
    daphne.ws_protocol.parse_x_forwarded_for = parse


def _as_list(values) -> list[bytes]:
    return list(values) if isinstance(values, list | tuple) else [values]
