"""Emails are unique per organization (case-insensitive), optional for channel customers."""

import pytest
from django.db import IntegrityError, transaction

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


def test_same_email_in_two_organizations_but_not_twice_in_one(organization, other_organization):
    User.objects.create_user("ann@example.com", "x-Long-pass-1", organization=organization)
    User.objects.create_user("ann@example.com", "x-Long-pass-2", organization=other_organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="ANN@example.com", organization=organization)
    assert User.objects.filter(email__iexact="ann@example.com").count() == 2


def test_many_customers_without_email_and_none_can_sign_in(organization, api_client):
    for name in ("a", "b"):
        user = User(email=None, name=name, role=Role.CUSTOMER, organization=organization)
        user.set_unusable_password()
        user.save()
    assert User.objects.filter(email__isnull=True).count() == 2
    response = api_client.post("/api/auth/login", {"email": "", "password": ""}, format="json")
    assert response.status_code in (400, 401)


def test_an_ambiguous_sign_in_signs_in_nobody(organization, other_organization, api_client):
    for org in (organization, other_organization):
        User.objects.create_user("same@example.com", "the-Same-pass-9", organization=org)
    response = api_client.post(
        "/api/auth/login",
        {"email": "same@example.com", "password": "the-Same-pass-9"},
        format="json",
    )
    assert response.status_code == 401
    response = api_client.post(
        "/api/auth/login",
        {"email": "same@example.com", "password": "the-Same-pass-9", "organization": "globex"},
        format="json",
    )
    assert response.status_code == 200
    assert User.objects.get(pk=response.json()["user"]["id"]).organization == other_organization
