"""Requests to URLs that someone outside the server chose (a bridge's attachment links, an
inbox's callback URL, the media links a provider's API answers with): only to public addresses.

Every hop is checked before anything is sent: the scheme (http, https), the host resolved once
by ``resolve`` — every address it has must be public (not loopback, private, link-local,
shared, multicast, reserved or unspecified; IPv4 inside IPv6 checked as IPv4) — and the
connection is made to the very address that was checked (the URL is rewritten to it, with the
``Host`` header and the TLS server name of the original host), so a name that resolves
differently a moment later (DNS rebinding) changes nothing. Redirects are followed by hand, at
most ``max_redirects`` of them, each one checked again; credentials never follow a redirect to
another host. A whole fetch has a deadline besides the per-call timeout.

Exceptions to the rule:

- ``trusted`` hosts: those of the provider APIs the operator configured (``TELEGRAM_API_URL``,
  ``WHATSAPP_API_URL``), which may be a stand-in on loopback;
- ``CONNECTOR_FETCH_ALLOWED_HOSTS``: host names or addresses (as written in the URL) allowed
  wherever they point — a bridge on the same private network;
- ``CONNECTOR_FETCH_ALLOW_PRIVATE``: no address check at all (a closed installation).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from connectors.base import FetchError

REDIRECTS = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}
# IPv6 ranges that carry an IPv4 address a gateway would reach: NAT64 (RFC 6052, 8215).
NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))

_ssl_context: ssl.SSLContext | None = None


class RefusedURL(FetchError):
    """A URL the server will not request: never retried, the reason is for people."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retry=False)


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (tests replace this function, and only this one)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_refusal(address: str) -> str | None:
    """Why a connection to ``address`` is refused (None: it is a public address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in net for net in NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(str(embedded))
    for label, flag in (
        ("a loopback address", ip.is_loopback),
        ("an unspecified address", ip.is_unspecified),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
    ):
        if flag:
            return label
    if not ip.is_global:
        return "not a public address"
    return None


def _allowed(host: str) -> bool:
    allowed = {h.strip().lower().strip("[]") for h in settings.CONNECTOR_FETCH_ALLOWED_HOSTS}
    return host.lower() in allowed


def host_matches(host: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """``host`` is one of ``patterns`` (``.example.com``: that domain and its subdomains)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if not pattern:
            continue
        if pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == pattern:
            return True
    return False


def checked_address(url: str, *, trusted: tuple[str, ...] = ()) -> tuple[httpx.URL, str]:
    """The URL parsed and the address to connect to; raises ``RefusedURL``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise RefusedURL("not a valid URL") from exc
    if parsed.scheme not in DEFAULT_PORTS:
        raise RefusedURL("only http and https links are fetched")
    host = parsed.host
    if not host:
        raise RefusedURL("the link has no host")
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"{host}: the name does not resolve", retry=True) from exc
        if not addresses:
            raise FetchError(f"{host}: the name does not resolve", retry=True)
    exempt = settings.CONNECTOR_FETCH_ALLOW_PRIVATE or _allowed(host) or host_matches(host, trusted)
    if not exempt:
        for address in addresses:
            reason = address_refusal(address)
            if reason is not None:
                raise RefusedURL(f"{host} is {reason} ({address}); links to it are not fetched")
    return parsed, addresses[0]


def _pinned(parsed: httpx.URL, address: str) -> tuple[httpx.URL, dict[str, str], dict]:
    """The URL with the checked address in place of the host, the Host header, the TLS name."""
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return (
        parsed.copy_with(host=address.split("%", 1)[0]),
        {"Host": parsed.netloc.decode("ascii")},
        extensions,
    )


def _context() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def _client(timeout: float) -> httpx.Client:
    # One client per fetch: a pooled connection to an address must never serve another host's
    # request (its TLS name was checked for the first); no proxy from the environment.
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        verify=_context(),
        trust_env=False,
        follow_redirects=False,
    )


@contextlib.contextmanager
def guarded_stream(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    max_redirects: int = 0,
    trusted: tuple[str, ...] = (),
) -> Iterator[httpx.Response]:
    """A streamed response from ``url`` after the checks above; raises ``RefusedURL``,
    ``FetchError`` (a name that does not resolve, too many redirects) or ``httpx.HTTPError``.
    ``trusted``: host patterns exempt from the address check (see ``host_matches``)."""
    timeout = settings.CONNECTOR_TIMEOUT_SECONDS
    headers = dict(headers or {})
    with _client(timeout) as http:
        current = url
        origin = None
        for _hop in range(max_redirects + 1):
            parsed, address = checked_address(current, trusted=trusted)
            if origin is None:
                origin = (parsed.scheme, parsed.host, parsed.port)
            elif (parsed.scheme, parsed.host, parsed.port) != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            target, host_header, extensions = _pinned(parsed, address)
            request = http.build_request(
                method,
                target,
                headers={**headers, **host_header},
                content=content,
                extensions=extensions,
            )
            response = http.send(request, stream=True)
            location = response.headers.get("Location")
            if response.status_code in REDIRECTS and location and max_redirects:
                response.close()
                current = urljoin(str(parsed), location)
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    method, content = "GET", None
                continue
            try:
                yield response
            finally:
                response.close()
            return
        raise FetchError(f"more than {max_redirects} redirects", retry=False)


def fetch_bytes(
    url: str,
    *,
    max_size: int,
    name: str,
    what: str = "download",
    headers: dict[str, str] | None = None,
    max_redirects: int = 0,
    trusted: tuple[str, ...] = (),
) -> bytes:
    """The body of a ``GET`` (200 only), at most ``max_size`` bytes, within the deadline;
    raises ``FetchError`` (``retry`` for 429, 5xx and transport errors)."""
    deadline = time.monotonic() + settings.CONNECTOR_FETCH_DEADLINE_SECONDS
    try:
        with guarded_stream(
            "GET", url, headers=headers, max_redirects=max_redirects, trusted=trusted
        ) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise FetchError(f"{what}: {response.status_code}", retry=True)
            if response.status_code != 200:
                raise FetchError(f"{what}: {response.status_code}", retry=False)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_size:
                raise FetchError(f"{name} is larger than {max_size} bytes.", retry=False)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_size:
                    raise FetchError(f"{name} is larger than {max_size} bytes.", retry=False)
                if time.monotonic() > deadline:
                    raise FetchError(f"{what}: too slow", retry=True)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FetchError(f"{what}: {exc.__class__.__name__}", retry=True) from exc
    return b"".join(chunks)


def configured_host(base_url: str) -> str:
    """The host of a provider base URL the operator configured."""
    return (urlsplit(base_url).hostname or "").lower()
