"""STORAGE_BACKEND=s3 against a real S3-protocol server (moto) on 127.0.0.1: the upload task,
its retries, failure without loss, and downloads through short-lived signed URLs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from media import services
from media.conftest import local_exists, remote_object, wait_for
from media.models import MediaFile, StorageState
from media.storage import remote_storage
from media.tasks import media_upload_remote, retry_delay
from media.tests import samples

pytestmark = pytest.mark.django_db


def test_r2_compatible_client_settings(s3_bucket):
    storage = remote_storage()
    config = storage.client_config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert storage.file_overwrite is False
    assert storage.querystring_auth is True


def test_upload_task_moves_the_file_to_the_bucket(
    customer, uploaded, s3_server, s3_bucket, django_capture_on_commit_callbacks
):
    content = samples.png(size=(64, 48))
    with django_capture_on_commit_callbacks() as enqueued:
        media = uploaded(customer, content=content)
    assert len(enqueued) == 1  # the task is queued on commit
    assert media.storage_state == StorageState.UPLOADING
    assert local_exists(media.file.name) and local_exists(media.thumbnail.name)

    with django_capture_on_commit_callbacks(execute=True):
        assert media_upload_remote.apply(args=[media.pk]).get() == StorageState.REMOTE

    media.refresh_from_db()
    assert media.storage_state == StorageState.REMOTE
    assert remote_object(s3_server, s3_bucket, media.file.name) == content
    assert remote_object(s3_server, s3_bucket, media.thumbnail.name)[:2] == b"\xff\xd8"
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=media.file.name)
    assert head["ContentType"] == "image/png"
    # The local copies are removed once the remote ones are recorded.
    assert not local_exists(media.file.name) and not local_exists(media.thumbnail.name)


def test_upload_task_is_idempotent(customer, uploaded, s3_server, s3_bucket):
    media = uploaded(customer, name="a.pdf", content=samples.pdf())
    # An earlier attempt put the object there and died before recording it.
    s3_server.client().put_object(Bucket=s3_bucket, Key=media.file.name, Body=samples.pdf())
    assert media_upload_remote.apply(args=[media.pk]).get() == StorageState.REMOTE
    assert media_upload_remote.apply(args=[media.pk]).get() == StorageState.REMOTE
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [media.file.name]  # no second copy under another name
    assert media_upload_remote.apply(args=[999_999]).get() == "missing"


def test_download_redirects_to_a_signed_url_that_serves_the_bytes(
    customer, operator, client_for, uploaded, s3_bucket
):
    from chats.services import message_send
    from chats.tests.factories import support_chat

    content = samples.pdf()
    media = uploaded(customer, name="Invoice 7.pdf", content=content)
    message_send(sender=customer, chat=support_chat(customer), attachment_ids=[media.pk])
    media_upload_remote.apply(args=[media.pk])

    response = client_for(operator).get(f"/api/media/{media.pk}/download")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    url = response["Location"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(django_settings.MEDIA_SIGNED_URL_SECONDS)]
    assert "X-Amz-Signature" in query

    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="Invoice 7.pdf"'

    # Tampering with the signed URL is refused by the store.
    forged = url.replace(media.file.name, media.file.name.replace(".pdf", "x.pdf"))
    assert requests.get(forged, timeout=10).status_code == 403


def test_thumbnail_of_a_remote_image(customer, client_for, uploaded, s3_bucket):
    media = uploaded(customer)
    media_upload_remote.apply(args=[media.pk])
    response = client_for(customer).get(f"/api/media/{media.pk}/download?thumbnail=1")
    assert response.status_code == 302
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content[:2] == b"\xff\xd8"
    assert fetched.headers["Content-Type"] == "image/jpeg"


def test_local_copy_is_served_while_the_remote_upload_is_in_flight(
    customer, client_for, uploaded, s3_bucket
):
    content = samples.png()
    media = uploaded(customer, content=content)
    response = client_for(customer).get(f"/api/media/{media.pk}/download")
    assert media.storage_state == StorageState.UPLOADING
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content


def test_reader_that_saw_uploading_falls_back_to_the_remote_copy(
    customer, uploaded, s3_bucket, django_capture_on_commit_callbacks
):
    """Between reading the row and opening the file the task finished and removed it."""
    from media.api import file_response

    media = uploaded(customer)
    stale = MediaFile.objects.get(pk=media.pk)
    with django_capture_on_commit_callbacks(execute=True):
        media_upload_remote.apply(args=[media.pk])
    assert not local_exists(media.file.name)
    assert stale.storage_state == StorageState.UPLOADING
    response = file_response(stale, thumbnail=False)
    assert response.status_code == 302


def test_failure_after_retries_leaves_the_file_local_and_readable(
    customer,
    client_for,
    uploaded,
    s3_server,
    s3_bucket,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.MEDIA_REMOTE_MAX_RETRIES = 2
    content = samples.pdf()
    media = uploaded(customer, name="contract.pdf", content=content)
    s3_server.stop()
    media_upload_remote.apply(args=[media.pk])  # eager: the retries run at once

    media.refresh_from_db()
    assert media.storage_state == StorageState.FAILED
    assert "EndpointConnectionError" in media.storage_error
    assert local_exists(media.file.name)
    response = client_for(customer).get(f"/api/media/{media.pk}/download")
    assert response.status_code == 200 and b"".join(response.streaming_content) == content

    # Once the store is back, a retry (the admin action) completes the move.
    s3_server.start()
    with django_capture_on_commit_callbacks() as enqueued:
        assert services.media_remote_retry(organization=None, media_ids=[media.pk]) == 1
    assert len(enqueued) == 1
    media.refresh_from_db()
    assert media.storage_state == StorageState.UPLOADING and media.storage_error == ""
    with django_capture_on_commit_callbacks(execute=True):
        media_upload_remote.apply(args=[media.pk])
    media.refresh_from_db()
    assert media.storage_state == StorageState.REMOTE
    assert remote_object(s3_server, s3_bucket, media.file.name) == content


def test_retry_backoff_grows_and_is_capped(settings):
    settings.MEDIA_REMOTE_RETRY_BACKOFF = 10
    assert [retry_delay(n) for n in range(4)] == [10, 20, 40, 80]
    assert retry_delay(20) == 3600


def test_deleting_a_remote_file_removes_its_objects(
    customer, uploaded, s3_server, s3_bucket, django_capture_on_commit_callbacks
):
    media = uploaded(customer)
    media_upload_remote.apply(args=[media.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.media_delete(files=[media])
    assert not MediaFile.objects.filter(pk=media.pk).exists()
    assert remote_object(s3_server, s3_bucket, media.file.name) is None
    assert remote_object(s3_server, s3_bucket, media.thumbnail.name) is None


@pytest.mark.django_db(transaction=True)
def test_worker_retries_after_the_store_was_briefly_down(
    customer, client_for, s3_server, s3_bucket, settings, celery_worker
):
    """The whole path with a real worker: the API upload enqueues the task on commit; the
    first attempt finds the store down and is retried after a backoff; meanwhile the file is
    served locally; the store comes back and the retry moves the file."""
    settings.MEDIA_REMOTE_RETRY_BACKOFF = 0.5
    s3_server.stop()
    content = samples.jpeg(size=(80, 60))
    response = client_for(customer).post(
        "/api/media", {"file": SimpleUploadedFile("p.jpg", content)}, format="multipart"
    )
    assert response.status_code == 201 and response.json()["storage_state"] == "uploading"
    media_id = response.json()["id"]

    wait_for(lambda: MediaFile.objects.get(pk=media_id).storage_error)  # first attempt failed
    media = MediaFile.objects.get(pk=media_id)
    assert media.storage_state == StorageState.UPLOADING
    download = client_for(customer).get(f"/api/media/{media_id}/download")
    assert download.status_code == 200 and b"".join(download.streaming_content) == content

    s3_server.start()
    wait_for(lambda: MediaFile.objects.get(pk=media_id).storage_state == StorageState.REMOTE)
    media = MediaFile.objects.get(pk=media_id)
    assert remote_object(s3_server, s3_bucket, media.file.name) == content
    assert media.storage_error == ""
    wait_for(lambda: not local_exists(media.file.name))
