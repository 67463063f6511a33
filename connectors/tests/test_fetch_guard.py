"""Links chosen outside the server are requested only at public addresses: bridge attachments,
callback URLs and provider media links, against real stand-ins that would record a request."""

from __future__ import annotations

import pytest

from chats.models import Delivery, Inbox, Message
from connectors import fetch
from connectors.conftest import wa_message, wa_payload
from connectors.standins.callback_sink import CallbackSink
from media.tests import samples

pytestmark = pytest.mark.django_db(transaction=True)


def _payload(url: str, message_id: str = "m-1") -> dict:
    return {
        "message_id": message_id,
        "contact": {"id": "+79001112233", "name": "Olga"},
        "text": "see the file",
        "attachments": [{"url": url, "name": "photo.png"}],
    }


def _port(sink) -> int:
    return sink.server.server_address[1]


@pytest.fixture
def resolver(monkeypatch):
    """``resolver({"name": ["address"]})``: the guard's own resolver answers these names
    (others resolve for real)."""
    real = fetch.resolve

    def install(names: dict[str, list[str]]):
        monkeypatch.setattr(
            fetch, "resolve", lambda host, port: names[host] if host in names else real(host, port)
        )

    return install


@pytest.fixture
def sink6():
    server = CallbackSink(host="::1").start()
    yield server
    server.stop()


def _refused_and_stored(response, reason: str) -> Message:
    """The message is stored (nothing the customer sent is lost), without the file, with why."""
    assert response.status_code == 200, response.content
    assert response.json()["message_id"] and response.json()["pending"] is False
    message = Message.objects.get()
    assert not message.attachments.exists()
    assert message.text.startswith("see the file\n[photo.png could not be received:")
    assert reason in message.text
    return message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3:{port}/files/p", "10.1.2.3 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[::ffff:127.0.0.1]:{port}/files/p", "a loopback address"),
        ("http://0.0.0.0:{port}/files/p", "an unspecified address"),
        ("http://100.64.0.1/files/p", "not a public address"),
        ("http://224.0.0.1/files/p", "a multicast address"),
        ("ftp://127.0.0.1/files/p", "only http and https"),
    ],
)
def test_private_and_odd_addresses_are_refused_and_nothing_is_fetched(
    sink, api_inbox, post_api, url, reason
):
    sink.add_file("/files/p", samples.png())
    response = post_api(api_inbox, _payload(url.format(port=_port(sink))))
    _refused_and_stored(response, reason)
    assert sink.gets() == []


def test_loopback_is_refused_unless_allowed_by_name(sink, api_inbox, post_api, settings):
    url = sink.add_file("/files/p", samples.png())
    settings.CONNECTOR_FETCH_ALLOWED_HOSTS = []
    _refused_and_stored(post_api(api_inbox, _payload(url)), "127.0.0.1 is a loopback address")
    assert sink.gets() == []
    # The same link from an allowed host is fetched (the stand-in would have seen the first).
    settings.CONNECTOR_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    post_api(api_inbox, _payload(url, message_id="m-2"))
    assert sink.gets() == ["/files/p"]
    assert Message.objects.get(external_id="m-2").attachments.get().mime == "image/png"


def test_ipv6_loopback_is_refused(sink, sink6, api_inbox, post_api, settings):
    url = sink6.add_file("/files/p", samples.png())
    assert url.startswith("http://[::1]:")
    _refused_and_stored(post_api(api_inbox, _payload(url)), "::1 is a loopback address")
    assert sink6.gets() == []
    settings.CONNECTOR_FETCH_ALLOW_PRIVATE = True  # the control: the link itself works
    post_api(api_inbox, _payload(url, message_id="m-2"))
    assert sink6.gets() == ["/files/p"]


def test_a_name_that_resolves_to_a_private_address_is_refused(sink, api_inbox, post_api):
    sink.add_file("/files/p", samples.png())
    # A real lookup: localhost is 127.0.0.1 (and ::1), where the stand-in listens; only the
    # name 127.0.0.1 is allowed, so where a name points is what counts.
    response = post_api(api_inbox, _payload(f"http://localhost:{_port(sink)}/files/p"))
    _refused_and_stored(response, "localhost is a loopback address")
    assert sink.gets() == []


def test_a_redirect_from_an_allowed_host_to_a_private_one_is_refused(sink, api_inbox, post_api):
    sink.add_file("/files/p", samples.png())
    jump = sink.add_redirect("/files/jump", f"http://localhost:{_port(sink)}/files/p")
    _refused_and_stored(post_api(api_inbox, _payload(jump)), "localhost is a loopback address")
    assert sink.gets() == ["/files/jump"]  # the redirect was asked, its target never


def test_a_redirect_to_the_metadata_address_is_refused(sink, api_inbox, post_api):
    jump = sink.add_redirect("/files/jump", "http://169.254.169.254/latest/meta-data/iam/")
    _refused_and_stored(post_api(api_inbox, _payload(jump)), "a link-local address")
    assert sink.gets() == ["/files/jump"]


def test_redirects_are_followed_within_the_limit(sink, api_inbox, post_api, settings):
    sink.add_file("/files/p", samples.png())
    sink.add_redirect("/files/b", "/files/p")
    first = sink.add_redirect("/files/a", "/files/b")
    post_api(api_inbox, _payload(first))
    assert Message.objects.get().attachments.get().mime == "image/png"
    assert sink.gets() == ["/files/a", "/files/b", "/files/p"]
    settings.CONNECTOR_FETCH_MAX_REDIRECTS = 1
    sink.reset()
    sink.add_redirect("/files/b", "/files/p")
    sink.add_redirect("/files/a", "/files/b")
    post_api(api_inbox, _payload(first, message_id="m-2"))
    assert "more than 1 redirects" in Message.objects.get(external_id="m-2").text
    assert sink.gets() == ["/files/a", "/files/b"]


def test_an_allowed_public_looking_host_is_fetched_at_the_address_checked(
    sink, api_inbox, post_api, settings, resolver
):
    """``files.bridge.example`` exists only in the guard's resolver: the file arrives, so the
    connection went to the address that was checked, not to a second lookup of the name."""
    sink.add_file("/files/p", samples.png())
    resolver({"files.bridge.example": ["127.0.0.1"]})
    settings.CONNECTOR_FETCH_ALLOWED_HOSTS = ["files.bridge.example"]
    post_api(api_inbox, _payload(f"http://files.bridge.example:{_port(sink)}/files/p"))
    assert Message.objects.get().attachments.get().mime == "image/png"
    assert sink.gets() == ["/files/p"]


def test_a_name_with_one_private_address_among_public_ones_is_refused(resolver):
    resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(fetch.RefusedURL, match="10.0.0.7"):
        fetch.checked_address("https://mixed.example/file")
    resolver({"public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})
    parsed, address = fetch.checked_address("https://public.example/file")
    assert address == "93.184.216.34" and parsed.host == "public.example"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, nothing binds)
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
def test_address_classes_that_are_refused(address):
    assert fetch.address_refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert fetch.address_refusal(address) is None


def test_a_callback_url_to_a_private_address_fails_the_reply_and_posts_nothing(
    sink, api_inbox, post_api, client_for, operator
):
    post_api(api_inbox, {"message_id": "m-0", "contact": {"id": "c1"}, "text": "hello"})
    Inbox.objects.filter(pk=api_inbox.pk).update(
        callback_url=f"http://localhost:{_port(sink)}/hook"
    )
    chat = Message.objects.get().chat
    response = client_for(operator).post(
        f"/api/chats/{chat.pk}/messages", {"text": "reply"}, format="json"
    )
    assert response.status_code == 201
    message = Message.objects.get(pk=response.json()["id"])
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "url_refused"
    assert "loopback" in message.delivery_error["detail"]
    assert sink.received() == []


def test_whatsapp_media_links_off_the_provider_hosts_are_refused_without_the_token(
    graph, sink, whatsapp_inbox, post_wa, settings, resolver
):
    # A lookup answer pointing elsewhere (here the sink, which would record the request).
    stolen = sink.add_file("/steal", samples.jpeg())
    graph.add_media(
        "m-1", samples.jpeg(), "image/jpeg", url=stolen.replace("127.0.0.1", "localhost")
    )
    post_wa(whatsapp_inbox, wa_payload(wa_message(type="image", image={"id": "m-1"})))
    message = Message.objects.get()
    assert not message.attachments.exists()
    assert "unexpected host (localhost)" in message.text
    assert sink.gets() == [] and graph.calls("download") == []
    # Meta's CDN host is allowed by name, but only at public addresses.
    settings.WHATSAPP_MEDIA_HOSTS = [".cdn.example"]
    resolver({"media.cdn.example": ["127.0.0.1"]})
    graph.add_media(
        "m-2", samples.jpeg(), "image/jpeg", url=f"http://media.cdn.example:{_port(sink)}/steal"
    )
    post_wa(whatsapp_inbox, wa_payload(wa_message(type="image", image={"id": "m-2"})))
    assert "media.cdn.example is a loopback address" in Message.objects.latest("id").text
    assert sink.gets() == []


def test_whatsapp_media_on_the_configured_api_host_is_fetched(graph, whatsapp_inbox, post_wa):
    """The stand-in on loopback is the configured WHATSAPP_API_URL: trusted as configured."""
    graph.add_media("m-1", samples.jpeg(), "image/jpeg")
    post_wa(whatsapp_inbox, wa_payload(wa_message(type="image", image={"id": "m-1"})))
    assert Message.objects.get().attachments.get().mime == "image/jpeg"
    assert len(graph.calls("download")) == 1


# --- HTTPS to the checked address -----------------------------------------------------------


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def https_files(tmp_path, monkeypatch):
    """An HTTPS file server on 127.0.0.1 with a certificate for ``files.bridge.example`` only,
    trusted by the guard's TLS context; records the paths and TLS server names it saw."""
    import http.server
    import ssl
    import threading

    cert, key = _self_signed(tmp_path, "files.bridge.example")
    seen: list[tuple[str, str]] = []
    names: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Host", "")))
            body = samples.png()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda sock, name, ctx: names.append(name) and None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(fetch, "_ssl_context", ssl.create_default_context(cafile=cert))
    server.seen, server.names = seen, names
    yield server
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_checked_address_with_the_hosts_name_and_certificate(
    https_files, settings, resolver
):
    port = https_files.server_address[1]
    settings.CONNECTOR_FETCH_ALLOWED_HOSTS = ["files.bridge.example", "wrong.bridge.example"]
    resolver({"files.bridge.example": ["127.0.0.1"], "wrong.bridge.example": ["127.0.0.1"]})
    content = fetch.fetch_bytes(
        f"https://files.bridge.example:{port}/p.png", max_size=10**6, name="p.png"
    )
    assert content == samples.png()
    assert https_files.seen == [("/p.png", f"files.bridge.example:{port}")]
    assert https_files.names == ["files.bridge.example"]  # SNI: the name, not the address
    # The same address under a name its certificate does not carry: the TLS check refuses it.
    with pytest.raises(fetch.FetchError, match="ConnectError"):
        fetch.fetch_bytes(f"https://wrong.bridge.example:{port}/p.png", max_size=10**6, name="p")
    assert len(https_files.seen) == 1
