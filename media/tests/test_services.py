"""Service entry points other apps use: media_create (channel media), upload resumption."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from crm.errors import ValidationFailed
from media.conftest import wait_for
from media.models import MediaFile, StorageState
from media.services import media_create, media_resume_remote_uploads
from media.storage import local_storage
from media.tests import samples

pytestmark = pytest.mark.django_db


def test_media_create_checks_in_memory_content_like_an_upload(organization, customer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "uploads_user": "1/h"}
    for n in range(3):  # the server's own files are not rate limited
        media = media_create(
            organization=organization,
            uploader=customer,
            content=ContentFile(samples.ogg()),
            name=f"voice-{n}",
        )
    assert (media.mime, media.kind, media.original_name) == ("audio/ogg", "audio", "voice-2.ogg")
    with local_storage().open(media.file.name, "rb") as fh:
        assert fh.read() == samples.ogg()
    with pytest.raises(ValidationFailed) as refused:
        media_create(organization=organization, content=ContentFile(samples.HTML), name="x.jpg")
    assert refused.value.code == "html_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_stuck_uploads_are_queued_again(customer, uploaded, s3_bucket, celery_worker, settings):
    # Files left "uploading" whose tasks were lost: stored without queueing anything.
    settings.STORAGE_BACKEND = "local"
    stuck, recent = uploaded(customer), uploaded(customer)
    settings.STORAGE_BACKEND = "s3"
    MediaFile.objects.update(storage_state=StorageState.UPLOADING)
    MediaFile.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=3))
    assert media_resume_remote_uploads(older_than=timedelta(hours=2)) == 1
    wait_for(lambda: MediaFile.objects.get(pk=stuck.pk).storage_state == StorageState.REMOTE)
    assert MediaFile.objects.get(pk=recent.pk).storage_state == StorageState.UPLOADING
