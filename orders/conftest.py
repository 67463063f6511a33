"""Fixtures for the orders app's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def back_office(client):
    """``back_office(user)``: Django's test client signed in to the admin as that user."""
    from accounts.tests.factories import DEFAULT_PASSWORD

    def sign_in(user):
        client.logout()
        assert client.login(username=user.email, password=DEFAULT_PASSWORD)
        return client

    return sign_in
