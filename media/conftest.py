"""Fixtures of the media tests: uploads, a real S3-protocol server on loopback, a Celery worker."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from media.storage import REMOTE_ALIAS, local_storage, s3_options


@pytest.fixture(autouse=True)
def private_media_root(settings, tmp_path):
    """Each test stores its files in a directory of its own."""
    settings.MEDIA_PRIVATE_ROOT = str(tmp_path / "private-media")
    return tmp_path / "private-media"


@pytest.fixture
def upload():
    """``upload(client, name, content, chat_id=None)``: POST /api/media as multipart."""

    def post(client, name: str, content: bytes, *, chat_id: int | None = None):
        data = {"file": SimpleUploadedFile(name, content)}
        if chat_id is not None:
            data["chat_id"] = chat_id
        return client.post("/api/media", data, format="multipart")

    return post


@pytest.fixture
def uploaded():
    """``uploaded(user, name="photo.png", content=None, chat=None)``: a MediaFile uploaded
    through the service, as the API would."""
    from media.services import media_upload
    from media.tests import samples

    def make(user, name: str = "photo.png", content: bytes | None = None, chat=None):
        content = samples.png() if content is None else content
        [media] = media_upload(uploader=user, files=[SimpleUploadedFile(name, content)], chat=chat)
        return media

    return make


def local_exists(key: str) -> bool:
    return bool(key) and local_storage().exists(key)


# --- S3-protocol server ---------------------------------------------------------------------

S3_CREDENTIALS = {"access_key": "test-access-key", "secret_key": "test-secret-key"}


class S3Server:
    """moto's S3 server in a thread on 127.0.0.1; ``stop()``/``start()`` take it down and bring
    it back on the same port (its buckets and objects survive, as on a real outage)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server_class = ThreadedMotoServer
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self.running = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.running:
            self._server.stop()
            self.running = False

    def start(self) -> None:
        if not self.running:
            self._server = self._server_class(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            self.running = True

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_CREDENTIALS["access_key"],
            aws_secret_access_key=S3_CREDENTIALS["secret_key"],
        )


@pytest.fixture(scope="session")
def s3_server():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, settings):
    """A fresh bucket on the loopback S3 server, and the media app switched to it exactly as
    ``STORAGE_BACKEND=s3`` configures it (same options builder as crm/settings.py)."""
    s3_server.start()
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        REMOTE_ALIAS: {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_options(
                bucket=bucket,
                endpoint_url=s3_server.endpoint,
                region="us-east-1",
                addressing_style="path",
                **S3_CREDENTIALS,
            ),
        },
    }
    yield bucket
    s3_server.start()


def remote_object(s3_server, bucket: str, key: str) -> bytes | None:
    client = s3_server.client()
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


# --- Celery ---------------------------------------------------------------------------------


@pytest.fixture
def celery_worker():
    """A real Celery worker in a thread, consuming from the configured broker (in-memory in the
    embedded setup, Redis with services); tasks are not run eagerly while it runs."""
    from celery.contrib.testing.worker import start_worker

    from crm.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"
        ) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = eager


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)
