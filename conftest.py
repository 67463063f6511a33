"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, UserFactory

# ``server`` (a real daphne on a database of its own) and ``browser`` (headless Chromium).
pytest_plugins = ["crm.tests.browser"]


def _clear_cache() -> None:
    if settings.REDIS_URL:
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(f"{settings.TEST_REDIS_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Rate-limit counters and cached values never leak from one test into the next."""
    _clear_cache()
    yield
    _clear_cache()


@pytest.fixture(scope="session", autouse=True)
def _require_services_when_configured():
    """With DATABASE_URL/REDIS_URL set, the services must answer: fail loudly, never skip."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def other_organization(db):
    return OrganizationFactory(slug="globex", name="Globex")


@pytest.fixture
def admin_user(organization):
    return UserFactory(organization=organization, role=Role.ADMIN)


@pytest.fixture
def senior_operator(organization):
    return UserFactory(organization=organization, role=Role.SENIOR_OPERATOR)


@pytest.fixture
def operator(organization):
    return UserFactory(organization=organization, role=Role.OPERATOR)


@pytest.fixture
def customer(organization):
    return UserFactory(organization=organization, role=Role.CUSTOMER)


@pytest.fixture
def other_admin(other_organization):
    return UserFactory(organization=other_organization, role=Role.ADMIN)


@pytest.fixture
def other_customer(other_organization):
    return UserFactory(organization=other_organization, role=Role.CUSTOMER)


@pytest.fixture
def captured():
    """Events as they are delivered (after commit): a list of ``(type, data, groups)``."""
    from crm import events

    sent: list[tuple[str, dict, tuple[str, ...]]] = []
    stop = events.observe(lambda t, d, g: sent.append((t, d, g)))
    yield sent
    stop()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client authenticated with that user's access JWT."""
    from accounts.services import tokens_for

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
        return client

    return make


def _has_chromium() -> bool:
    import shutil

    return bool(shutil.which("chromium") or os.path.exists("/usr/bin/chromium"))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``services`` need PostgreSQL and Redis, tests marked ``browser`` Debian's
    Chromium. Without them they are skipped with a reason on a developer's machine, and fail in
    CI (CI=true), where everything must be there."""
    services = bool(settings.REDIS_URL) and settings.DATABASES["default"]["ENGINE"].endswith(
        "postgresql"
    )
    browser = _has_chromium()
    in_ci = bool(os.environ.get("CI"))
    for item in items:
        missing = None
        if "services" in item.keywords and not services:
            missing = "needs DATABASE_URL (PostgreSQL) and REDIS_URL: see README, 'Tests'"
        elif "browser" in item.keywords and not browser:
            missing = "needs Debian's chromium (`make test` installs it)"
        if missing is None:
            continue
        if in_ci:
            item.add_marker(pytest.mark.usefixtures("_required_part_missing_in_ci"))
        else:
            item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture
def _required_part_missing_in_ci(request):
    pytest.fail(
        f"CI must run {request.node.nodeid} with PostgreSQL + Redis (DATABASE_URL, REDIS_URL) "
        "and Chromium available."
    )
