"""POST /api/media and /api/media/multiple: what is accepted, stored and refused."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test import RequestFactory

from chats.tests.factories import support_chat
from crm.errors import ValidationFailed
from media import api, uploads
from media.conftest import local_exists
from media.models import MediaFile, StorageState
from media.storage import local_storage
from media.tests import samples

pytestmark = pytest.mark.django_db


def stored_files() -> list[str]:
    root = Path(local_storage().location)
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("name", list(samples.ACCEPTED))
def test_every_accepted_kind_is_stored_with_its_sniffed_type(name, customer, client_for, upload):
    make, mime, kind = samples.ACCEPTED[name]
    content = make()
    response = upload(client_for(customer), name, content)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["mime"], body["kind"], body["size"], body["name"]) == (
        mime,
        kind,
        len(content),
        name,
    )
    assert body["url"] == f"/api/media/{body['id']}/download"
    media = MediaFile.objects.get(pk=body["id"])
    assert media.uploader == customer and media.organization == customer.organization
    assert media.storage_state == StorageState.LOCAL
    assert media.sha256 == hashlib.sha256(content).hexdigest()
    # The key is the server's: no trace of the client's name.
    assert name.rsplit(".", 1)[0] not in media.file.name
    assert media.file.name.startswith(f"media/{customer.organization_id}/")
    with local_storage().open(media.file.name, "rb") as fh:
        assert fh.read() == content
    if kind == "image":
        assert (body["width"], body["height"]) == (40, 30)
        assert body["thumbnail_url"] == f"{body['url']}?thumbnail=1"
        assert local_exists(media.thumbnail.name)
    else:
        assert body["width"] is None and body["thumbnail_url"] is None


def test_image_dimensions_follow_exif_rotation_and_thumbnail_is_bounded(
    customer, client_for, upload
):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: displayed 300 wide, 800 tall
    content = samples.jpeg(size=(800, 300), exif=exif.tobytes())
    client = client_for(customer)
    body = upload(client, "tall.jpg", content).json()
    assert (body["width"], body["height"]) == (300, 800)
    thumbnail = client.get(body["thumbnail_url"])
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as image:
        assert image.format == "JPEG" and image.size == (120, 320)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("cat.png", samples.HTML, "html_not_allowed"),
        ("logo.svg", samples.SVG_WITH_SCRIPT, "svg_not_allowed"),
        ("anim.gif", samples.gif_script_polyglot(), "markup_in_file"),
        ("photo.png", samples.png_with_html(), "markup_in_file"),
        ("tool", samples.elf(), "executable_not_allowed"),
        ("setup.exe", samples.pe(), "executable_not_allowed"),
        ("invoice.pdf", samples.pe(), "executable_not_allowed"),
        ("flood.png", samples.pixel_flood_png(), "image_too_large"),
        ("report.png", samples.pdf(), "type_mismatch"),
        ("empty.txt", b"", "empty_file"),
        ("broken.png", samples.png()[:60], "invalid_image"),
    ],
)
def test_dangerous_or_wrong_files_are_refused_and_nothing_is_kept(
    name, content, code, customer, client_for, upload
):
    response = upload(client_for(customer), name, content)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not MediaFile.objects.exists()
    assert stored_files() == []


def test_pixel_limit_is_checked_before_decoding(customer, client_for, upload, settings):
    settings.MEDIA_MAX_IMAGE_PIXELS = 1000
    response = upload(client_for(customer), "big.png", samples.png(size=(50, 30)))
    assert response.status_code == 400 and response.json()["code"] == "image_too_large"
    assert "50 × 30" in response.json()["detail"]
    settings.MEDIA_MAX_IMAGE_PIXELS = 1500
    assert upload(client_for(customer), "ok.png", samples.png(size=(50, 30))).status_code == 201


def _raw_upload(client, filename: str, content: bytes):
    """A multipart body written by hand, with the name as RFC 2231 ``filename*`` so that
    bytes a browser form could not send (NUL, CR/LF) reach the server."""
    boundary = "----crm-test-boundary"
    head = (
        f"--{boundary}\r\n"
        f"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''{quote(filename)}\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return client.post(
        "/api/media", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


@pytest.mark.parametrize(
    ("filename", "stored_name"),
    [
        ("../../../etc/cron.d/evil.png", "evil.png"),
        ("..\\..\\boot.png", "boot.png"),
        ("photo\x00.png", "photo.png"),
        ("header\r\nX-Injected: 1.png", "headerX-Injected_ 1.png"),
        ("a" * 300 + ".png", "a" * 146 + ".png"),
        ("no-extension", "no-extension.png"),
    ],
)
def test_client_file_names_are_sanitized(filename, stored_name, customer, client_for):
    client = client_for(customer)
    response = _raw_upload(client, filename, samples.png())
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == stored_name
    media = MediaFile.objects.get()
    assert media.original_name == stored_name
    assert ".." not in media.file.name and "evil" not in media.file.name
    download = client.get(response.json()["url"])
    disposition = download["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition


def test_service_sanitizes_names_that_bypass_the_multipart_parser(customer, uploaded):
    media = uploaded(customer, name="x/../../a\r\nb\x00c.png")
    assert media.original_name == "abc.png"
    with pytest.raises(ValidationFailed) as refused:
        uploaded(customer, name="photo.png\x00.exe")
    assert refused.value.code == "type_mismatch"


def test_declared_oversize_body_is_refused_before_it_is_read(settings):
    """A Content-Length over the limit answers 413 without reading a byte of the body."""
    settings.MAX_UPLOAD_SIZE = 1024

    class Tracking(io.BytesIO):
        reads = 0

        def read(self, *args):
            Tracking.reads += 1
            return super().read(*args)

    request = RequestFactory().generic(
        "POST",
        "/api/media",
        data=b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024 * 1024 * 1024),
        **{"wsgi.input": Tracking(b"--x--")},
    )
    response = api.MediaUploadApi.as_view()(request)
    assert response.status_code == 413
    assert response.data["code"] == "file_too_large" and response.data["max_size"] == 1024
    assert Tracking.reads == 0


def test_oversize_file_with_honest_content_length_is_refused(
    customer, client_for, upload, settings
):
    settings.MAX_UPLOAD_SIZE = 1024
    response = upload(client_for(customer), "big.txt", b"a" * 200_000)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert not MediaFile.objects.exists()


def test_oversize_file_inside_the_body_allowance_is_cut_off_while_streaming(
    customer, client_for, upload, settings
):
    """The body is under the Content-Length allowance (limit + multipart overhead), so the
    upload handler has to notice the file passing the limit as it streams."""
    settings.MAX_UPLOAD_SIZE = 100_000
    content = b"a" * 120_000
    assert len(content) < uploads.body_limit(files=1)
    response = upload(client_for(customer), "big.txt", content)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert not MediaFile.objects.exists() and stored_files() == []
    assert upload(client_for(customer), "ok.txt", b"a" * 100_000).status_code == 201


def test_uploads_stream_to_temporary_files_even_when_small(customer):
    """The upload handler writes every file to disk; nothing is kept in memory."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    request = RequestFactory().post(
        "/api/media", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    uploads.use_limited_upload_handlers(request)
    _, files = MultiPartParser(request.META, io.BytesIO(body), request.upload_handlers).parse()
    received = files["file"]
    assert isinstance(received, TemporaryUploadedFile)
    assert os.path.exists(received.temporary_file_path())
    assert received.read() == b"hello"


def test_upload_for_a_chat_the_uploader_can_read(
    customer, other_customer, client_for, upload, organization
):
    from accounts.models import Role
    from accounts.tests.factories import UserFactory

    chat = support_chat(customer)
    client = client_for(customer)
    response = upload(client, "photo.png", samples.png(), chat_id=chat.pk)
    assert response.status_code == 201
    assert MediaFile.objects.get(pk=response.json()["id"]).chat == chat

    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    neighbours_chat = support_chat(neighbour)
    foreign_chat = support_chat(other_customer)
    for chat_id in (neighbours_chat.pk, foreign_chat.pk, 999_999):
        refused = upload(client, "photo.png", samples.png(), chat_id=chat_id)
        assert refused.status_code == 404 and refused.json()["code"] == "chat_not_found"
    assert MediaFile.objects.count() == 1


def test_upload_needs_authentication_and_a_file(api_client, customer, client_for):
    assert api_client.post("/api/media", {}, format="multipart").status_code == 401
    response = client_for(customer).post("/api/media", {"chat_id": 1}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    as_json = client_for(customer).post("/api/media", {"file": "x"}, format="json")
    assert as_json.status_code == 415


def test_upload_rate_limit_per_user(customer, operator, client_for, upload, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "uploads_user": "2/h"}
    client = client_for(customer)
    assert upload(client, "a.png", samples.png()).status_code == 201
    assert upload(client, "b.png", samples.png()).status_code == 201
    refused = upload(client, "c.png", samples.png())
    assert refused.status_code == 429
    assert refused.json()["code"] == "uploads_throttled" and int(refused["Retry-After"]) > 0
    # Another user has their own budget.
    assert upload(client_for(operator), "d.png", samples.png()).status_code == 201


def test_multiple_upload(customer, client_for):
    client = client_for(customer)
    files = [
        SimpleUploadedFile("a.png", samples.png()),
        SimpleUploadedFile("b.pdf", samples.pdf()),
        SimpleUploadedFile("c.csv", samples.CSV),
    ]
    response = client.post("/api/media/multiple", {"files": files}, format="multipart")
    assert response.status_code == 201
    results = response.json()["results"]
    assert [(r["name"], r["mime"]) for r in results] == [
        ("a.png", "image/png"),
        ("b.pdf", "application/pdf"),
        ("c.csv", "text/csv"),
    ]
    assert MediaFile.objects.filter(uploader=customer).count() == 3


def test_multiple_upload_is_all_or_nothing(customer, client_for):
    files = [
        SimpleUploadedFile("a.png", samples.png()),
        SimpleUploadedFile("b.png", samples.HTML),
        SimpleUploadedFile("c.csv", samples.CSV),
    ]
    response = client_for(customer).post(
        "/api/media/multiple", {"files": files}, format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "html_not_allowed" and body["name"] == "b.png"
    assert body["files"] == {"1": ["HTML files are not accepted."]}
    assert not MediaFile.objects.exists() and stored_files() == []


def test_multiple_upload_limits(customer, client_for, settings):
    client = client_for(customer)
    eleven = [SimpleUploadedFile(f"{i}.txt", b"hello") for i in range(11)]
    response = client.post("/api/media/multiple", {"files": eleven}, format="multipart")
    assert response.status_code == 400 and "files" in response.json()
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "uploads_user": "3/h"}
    four = [SimpleUploadedFile(f"{i}.txt", b"hello") for i in range(4)]
    response = client.post("/api/media/multiple", {"files": four}, format="multipart")
    assert response.status_code == 429
    assert not MediaFile.objects.exists()


def test_download_ignores_the_accept_header(customer, client_for):
    client = client_for(customer)
    response = client.post(
        "/api/media",
        {"file": SimpleUploadedFile("a.png", samples.png())},
        format="multipart",
    )
    download = client.get(response.json()["url"], HTTP_ACCEPT="application/pdf")
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
