"""Uploads and downloads over real HTTP on 127.0.0.1 (the test live server)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from accounts.services import tokens_for
from media.models import MediaFile
from media.tests import samples

pytestmark = pytest.mark.django_db(transaction=True)


def _auth(user) -> dict:
    return {"Authorization": f"Bearer {tokens_for(user)['access']}"}


def test_upload_and_download_over_http(live_server, customer):
    content = samples.jpeg(size=(200, 100))
    response = requests.post(
        f"{live_server.url}/api/media",
        files={"file": ("holiday.jpg", content, "application/octet-stream")},
        headers=_auth(customer),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["mime"], body["width"], body["height"]) == ("image/jpeg", 200, 100)
    download = requests.get(f"{live_server.url}{body['url']}", headers=_auth(customer), timeout=10)
    assert download.content == content
    assert download.headers["Content-Type"] == "image/jpeg"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_oversize_declared_body_is_answered_before_it_is_sent(live_server, customer, settings):
    """The client announces 10 GiB and sends only the headers: the 413 arrives anyway."""
    settings.MAX_UPLOAD_SIZE = 1024 * 1024
    address = urlsplit(live_server.url)
    head = (
        "POST /api/media HTTP/1.1\r\n"
        f"Host: {address.hostname}\r\n"
        f"Authorization: {_auth(customer)['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {10 * 1024**3}\r\n\r\n"
        "--xyz\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        while b"file_too_large" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"code":"file_too_large"' in reply
    assert not MediaFile.objects.exists()
