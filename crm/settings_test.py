"""Settings for the test suite: the same as production code runs with, made fast and isolated."""

import os
import tempfile
import uuid

from crm.settings import *  # noqa: F403
from crm.settings import CACHES, CHANNEL_LAYERS, REDIS_URL, REST_FRAMEWORK

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
MEDIA_ROOT = tempfile.mkdtemp(prefix="crm-test-media-")

# Each test run (and each xdist worker) gets its own Redis namespace, so runs never see each
# other's counters, groups or queues, and clean-up can delete exactly its own keys.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_REDIS_PREFIX = f"crmtest:{uuid.uuid4().hex[:8]}:{_worker}"
if REDIS_URL:
    REDIS_KEY_PREFIX = TEST_REDIS_PREFIX  # the event log and its channel (crm.hub)
    CACHES["default"]["KEY_PREFIX"] = TEST_REDIS_PREFIX
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{TEST_REDIS_PREFIX}:asgi"
    # Each run's Celery queue too: a worker started by one xdist process must not take the
    # tasks of another (they use different test databases).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{TEST_REDIS_PREFIX}:celery:"}
