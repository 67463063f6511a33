"""The media admin: the organization's files only, previews through the download URL."""

from __future__ import annotations

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from media.conftest import local_exists
from media.models import MediaFile
from media.tests import samples

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/media/mediafile/"


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_list_shows_only_the_organizations_files(
    admin_user, customer, other_customer, admin_client_for, uploaded
):
    mine = uploaded(customer, name="ours.png")
    uploaded(other_customer, name="theirs.png")
    document = uploaded(customer, name="terms.pdf", content=samples.pdf())
    response = admin_client_for(admin_user).get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "ours.png" in html and "terms.pdf" in html
    assert "theirs.png" not in html
    assert f'src="/api/media/{mine.pk}/download?thumbnail=1"' in html
    assert f"/api/media/{document.pk}/download?thumbnail=1" not in html  # no preview
    assert "image/png" in html and "application/pdf" in html
    assert "101\xa0bytes" in html  # size, human readable


def test_list_query_count_does_not_grow_with_the_page(
    admin_user, customer, admin_client_for, uploaded
):
    client = admin_client_for(admin_user)
    uploaded(customer)

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(CHANGELIST).status_code == 200
        return len(queries)

    small = count()
    for n in range(12):
        uploaded(customer, name=f"file-{n}.png")
    assert count() == small


def test_other_organizations_file_page_is_not_found(
    admin_user, other_customer, admin_client_for, uploaded
):
    theirs = uploaded(other_customer)
    response = admin_client_for(admin_user).get(f"{CHANGELIST}{theirs.pk}/change/")
    assert response.status_code == 302  # the admin's "doesn't exist" redirect
    assert response.url == "/admin/"


def test_detail_page_previews_and_links_the_download(
    admin_user, customer, admin_client_for, uploaded
):
    media = uploaded(customer)
    response = admin_client_for(admin_user).get(f"{CHANGELIST}{media.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/api/media/{media.pk}/download"' in html
    assert media.sha256 in html


def test_files_are_not_added_through_the_admin(admin_user, admin_client_for):
    assert admin_client_for(admin_user).get(f"{CHANGELIST}add/").status_code == 403


def test_operator_may_view_but_not_delete(operator, customer, admin_client_for, uploaded):
    media = uploaded(customer)
    client = admin_client_for(operator)
    assert client.get(CHANGELIST).status_code == 200
    assert client.post(f"{CHANGELIST}{media.pk}/delete/", {"post": "yes"}).status_code == 403
    assert MediaFile.objects.filter(pk=media.pk).exists()


def test_admin_delete_removes_the_bytes(
    admin_user, customer, admin_client_for, uploaded, django_capture_on_commit_callbacks
):
    media = uploaded(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_for(admin_user).post(
            f"{CHANGELIST}{media.pk}/delete/", {"post": "yes"}
        )
    assert response.status_code == 302
    assert not MediaFile.objects.filter(pk=media.pk).exists()
    assert not local_exists(media.file.name) and not local_exists(media.thumbnail.name)


def test_platform_owner_sees_every_organization(
    customer, other_customer, admin_client_for, uploaded, organization
):
    owner = UserFactory(organization=organization, role=Role.ADMIN, is_superuser=True)
    uploaded(customer, name="ours.png")
    theirs = uploaded(other_customer, name="theirs.png")
    client = admin_client_for(owner)
    assert "theirs.png" in client.get(CHANGELIST).content.decode()
    # ...and the preview URL the page uses works for them.
    assert client.get(f"/api/media/{theirs.pk}/download?thumbnail=1").status_code == 200
