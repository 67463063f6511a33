"""Avatars go through the media pipeline: typed by content, size and pixel limits, resized,
counted against ``uploads_user``; the old file goes; the URL serves the image to whoever may
see the user, and to nobody else."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image
from rest_framework.test import APIClient

from media.tests import samples

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _patch(client, name: str, content: bytes):
    return client.patch(
        "/api/auth/me", {"avatar": SimpleUploadedFile(name, content)}, format="multipart"
    )


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_avatar_is_resized_and_served(customer, operator):
    response = _patch(_client(operator), "me.png", samples.png(size=(1200, 900)))
    assert response.status_code == 200, response.content
    url = response.json()["avatar"]
    assert url.startswith(f"/api/users/{operator.pk}/avatar?v=")
    for viewer in (operator, customer):  # customers see staff avatars
        served = _client(viewer).get(url)
        assert served.status_code == 200
        assert served["Content-Type"] in ("image/jpeg", "image/png")
        assert "sandbox" in served["Content-Security-Policy"]
        with Image.open(io.BytesIO(_body(served))) as image:
            assert max(image.size) <= 320
    assert APIClient().get(url).status_code == 401


def test_avatar_of_another_organization_is_not_found(operator, other_admin, customer):
    _patch(_client(operator), "me.png", samples.png())
    assert _client(other_admin).get(f"/api/users/{operator.pk}/avatar").status_code == 404
    # A customer does not see another customer's avatar either.
    _patch(_client(customer), "me.png", samples.png())
    from accounts.tests.factories import UserFactory

    stranger = UserFactory(organization=customer.organization)
    assert _client(stranger).get(f"/api/users/{customer.pk}/avatar").status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (30 * 1024 * 1024), "file_too_large"),
        ("bomb.png", samples.pixel_flood_png(), "image_too_large"),
        ("fake.png", samples.pdf(), "type_mismatch"),
        ("doc.pdf", samples.pdf(), "avatar_not_image"),
        ("page.png", samples.png_with_html(), "markup_in_file"),
    ],
)
def test_bad_avatars_are_refused_and_change_nothing(customer, name, content, code):
    client = _client(customer)
    assert _patch(client, "ok.png", samples.png()).status_code == 200
    customer.refresh_from_db()
    before = customer.avatar.name
    response = _patch(client, name, content)
    assert 400 <= response.status_code < 500, response.content[:200]
    assert response.json()["code"] == code, response.json()
    customer.refresh_from_db()
    assert customer.avatar.name == before
    assert customer.avatar.storage.exists(before)


def test_old_avatar_file_is_removed(customer, django_capture_on_commit_callbacks):
    client = _client(customer)
    with django_capture_on_commit_callbacks(execute=True):
        _patch(client, "a.png", samples.png())
    customer.refresh_from_db()
    first, storage = customer.avatar.name, customer.avatar.storage
    with django_capture_on_commit_callbacks(execute=True):
        assert _patch(client, "b.jpg", samples.jpeg()).status_code == 200
    customer.refresh_from_db()
    assert customer.avatar.name != first
    assert storage.exists(customer.avatar.name)
    assert not storage.exists(first)


@override_settings(RATE_LIMITS={"uploads_user": "2/h"})
def test_avatars_count_against_the_upload_limit(customer):
    client = _client(customer)
    assert _patch(client, "a.png", samples.png()).status_code == 200
    assert _patch(client, "b.png", samples.png()).status_code == 200
    response = _patch(client, "c.png", samples.png())
    assert response.status_code == 429
    assert response.json()["code"] == "uploads_throttled"
