"""GET /api/media/{id} and /download: who may read a file, and how it is served."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import ChatKind, Message
from chats.services import message_send
from chats.tests.factories import internal_chat, support_chat
from media.models import MediaFile
from media.storage import local_storage
from media.tests import samples

pytestmark = pytest.mark.django_db


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_route_name_matches_the_url_in_payloads(customer, uploaded):
    media = uploaded(customer)
    assert reverse("media-download", args=[media.pk]) == f"/api/media/{media.pk}/download"


def test_metadata(customer, client_for, uploaded):
    chat = support_chat(customer)
    media = uploaded(customer, name="invoice.pdf", content=samples.pdf(), chat=chat)
    response = client_for(customer).get(f"/api/media/{media.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == media.pk and body["name"] == "invoice.pdf"
    assert body["mime"] == "application/pdf" and body["kind"] == "document"
    assert body["chat_id"] == chat.pk and body["uploader_id"] == customer.pk
    assert body["sha256"] == media.sha256 and body["attached"] is False
    assert body["url"] == f"/api/media/{media.pk}/download"


@pytest.mark.parametrize(
    ("name", "make", "mime", "disposition", "csp"),
    [
        ("photo.png", samples.png, "image/png", "inline", True),
        # A PDF may carry JavaScript: a sandboxed download, never shown inline.
        ("invoice.pdf", samples.pdf, "application/pdf", "attachment", True),
        ("letter.docx", lambda: samples.ooxml("docx"), None, "attachment", True),
        ("notes.txt", lambda: samples.TEXT, "text/plain", "attachment", True),
        ("clip.mp4", samples.mp4, "video/mp4", "attachment", True),
    ],
)
def test_download_headers(name, make, mime, disposition, csp, customer, client_for, uploaded):
    content = make()
    media = uploaded(customer, name=name, content=content)
    response = client_for(customer).get(f"/api/media/{media.pk}/download")
    assert response.status_code == 200
    assert body_of(response) == content
    assert response["Content-Type"] == (mime or media.mime)
    assert response["Content-Disposition"] == f'{disposition}; filename="{name}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(content))
    assert ("sandbox" in response.get("Content-Security-Policy", "")) is csp


def test_non_ascii_name_is_encoded_in_content_disposition(customer, client_for, uploaded):
    media = uploaded(customer, name="Счёт №1.pdf", content=samples.pdf())
    response = client_for(customer).get(f"/api/media/{media.pk}/download")
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%D0%A1%D1%87%D1%91%D1%82%20%E2%84%961.pdf"
    )


def test_thumbnail_by_query_and_by_path(customer, client_for, uploaded):
    client = client_for(customer)
    media = uploaded(customer, content=samples.png(size=(900, 600)))
    by_query = client.get(f"/api/media/{media.pk}/download?thumbnail=1")
    by_path = client.get(f"/api/media/{media.pk}/thumbnail")
    assert by_query.status_code == by_path.status_code == 200
    assert by_query["Content-Type"] == "image/jpeg"
    assert body_of(by_query) == body_of(by_path)
    with local_storage().open(media.thumbnail.name, "rb") as fh:
        assert fh.read()[:2] == b"\xff\xd8"
    document = uploaded(customer, name="a.pdf", content=samples.pdf())
    missing = client.get(f"/api/media/{document.pk}/download?thumbnail=1")
    assert missing.status_code == 404 and missing.json()["code"] == "no_thumbnail"


def test_transparent_image_gets_a_png_thumbnail(customer, client_for, uploaded):
    media = uploaded(customer, content=samples.png(mode="RGBA"))
    response = client_for(customer).get(f"/api/media/{media.pk}/thumbnail")
    assert response["Content-Type"] == "image/png"
    assert body_of(response)[:8] == b"\x89PNG\r\n\x1a\n"


def _can_read(client_for, user, media: MediaFile) -> bool:
    client = client_for(user)
    statuses = {
        client.get(f"/api/media/{media.pk}").status_code,
        client.get(f"/api/media/{media.pk}/download").status_code,
    }
    assert len(statuses) == 1, statuses  # metadata and download agree
    status = statuses.pop()
    assert status in (200, 404)
    return status == 200


def test_unposted_upload_is_only_its_uploaders(
    customer, operator, admin_user, client_for, uploaded
):
    chat = support_chat(customer)
    media = uploaded(customer, chat=chat)  # uploaded for the chat, not sent yet
    assert _can_read(client_for, customer, media)
    assert not _can_read(client_for, operator, media)
    assert not _can_read(client_for, admin_user, media)


def test_posted_file_follows_the_chat(
    customer, operator, admin_user, other_admin, other_customer, organization, client_for, uploaded
):
    chat = support_chat(customer)
    media = uploaded(customer)
    message_send(sender=customer, chat=chat, text="see attached", attachment_ids=[media.pk])
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    assert _can_read(client_for, customer, media)
    assert _can_read(client_for, operator, media)  # staff read support chats
    assert _can_read(client_for, admin_user, media)
    assert not _can_read(client_for, neighbour, media)  # same organization, not their chat
    assert not _can_read(client_for, other_admin, media)  # another organization: 404
    assert not _can_read(client_for, other_customer, media)


def test_note_attachments_are_hidden_from_the_customer(
    customer, operator, admin_user, client_for, uploaded
):
    chat = support_chat(customer)
    media = uploaded(operator, name="internal.pdf", content=samples.pdf())
    message_send(sender=operator, chat=chat, text="vip", kind="note", attachment_ids=[media.pk])
    assert _can_read(client_for, admin_user, media)
    assert not _can_read(client_for, customer, media)


def test_internal_chat_files_are_for_participants(
    operator, senior_operator, admin_user, client_for, uploaded
):
    chat = internal_chat(ChatKind.GROUP, [operator, senior_operator], name="Team")
    media = uploaded(operator)
    message_send(sender=operator, chat=chat, attachment_ids=[media.pk])
    assert _can_read(client_for, senior_operator, media)
    assert not _can_read(client_for, admin_user, media)  # not a participant


def test_deleted_message_hides_its_files_from_everyone_but_the_uploader(
    customer, operator, client_for, uploaded
):
    chat = support_chat(customer)
    media = uploaded(customer)
    message = message_send(sender=customer, chat=chat, attachment_ids=[media.pk]).message
    Message.objects.filter(pk=message.pk).update(deleted_at=timezone.now())
    assert _can_read(client_for, customer, media)
    assert not _can_read(client_for, operator, media)


def test_unknown_and_malformed_ids(customer, client_for):
    client = client_for(customer)
    assert client.get("/api/media/999999/download").json()["code"] == "media_not_found"
    assert client.get("/api/media/abc/download").status_code == 404


def test_download_needs_authentication(api_client, customer, uploaded):
    media = uploaded(customer)
    assert api_client.get(f"/api/media/{media.pk}/download").status_code == 401
    assert api_client.get(f"/api/media/{media.pk}").status_code == 401


def test_session_authenticated_download_for_the_cabinet_and_admin(customer, uploaded, client):
    media = uploaded(customer)
    client.force_login(customer)
    response = client.get(f"/api/media/{media.pk}/download?thumbnail=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_missing_local_bytes_answer_404_not_500(customer, client_for, uploaded):
    media = uploaded(customer)
    local_storage().delete(media.file.name)
    response = client_for(customer).get(f"/api/media/{media.pk}/download")
    assert response.status_code == 404 and response.json()["code"] == "media_missing"


def test_query_count_of_a_download(
    customer, operator, client_for, uploaded, django_assert_num_queries
):
    chat = support_chat(customer)
    media = uploaded(customer)
    message_send(sender=customer, chat=chat, attachment_ids=[media.pk])
    client = client_for(operator)
    with django_assert_num_queries(2):  # the user, then the file with its access check
        assert client.get(f"/api/media/{media.pk}/download").status_code == 200
