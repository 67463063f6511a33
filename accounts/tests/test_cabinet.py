import pytest
from django.test import Client

from accounts.models import Role, User
from accounts.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def test_home_for_anonymous_links_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'href="/login/"' in response.content


def test_customer_signs_in_to_chat_and_staff_to_admin(client, customer, operator):
    response = client.post("/login/", {"email": customer.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/chat/"
    assert client.get("/").status_code == 302
    client.post("/logout/")
    response = client.post("/login/", {"email": operator.email, "password": DEFAULT_PASSWORD})
    assert response["Location"] == "/admin/"


def test_wrong_password_shows_error_and_no_session(client, customer):
    response = client.post("/login/", {"email": customer.email, "password": "nope"})
    assert response.status_code == 400
    assert b"Email or password is incorrect" in response.content
    assert "_auth_user_id" not in client.session


def test_login_next_only_to_own_site(client, customer):
    response = client.post(
        "/login/",
        {"email": customer.email, "password": DEFAULT_PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/chat/"
    client.post("/logout/")
    response = client.post(
        "/login/", {"email": customer.email, "password": DEFAULT_PASSWORD, "next": "/profile/"}
    )
    assert response["Location"] == "/profile/"


def test_cabinet_login_is_throttled_like_the_api(client, customer):
    for _ in range(5):
        client.post("/login/", {"email": customer.email, "password": "bad"})
    response = client.post("/login/", {"email": customer.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content


def test_register_creates_customer_and_signs_in(client, organization):
    response = client.post(
        "/register/",
        {
            "name": "Jane",
            "email": "Jane@Example.com",
            "password": "a-Long-pass-77",
            "organization": "acme",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="jane@example.com")
    assert user.role == Role.CUSTOMER and user.organization == organization
    assert int(client.session["_auth_user_id"]) == user.pk


def test_register_errors_are_shown_per_field(client, customer):
    response = client.post(
        "/register/", {"name": "X", "email": customer.email.upper(), "password": "123"}
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert "already exists" in content or "too short" in content
    assert User.objects.filter(email__iexact=customer.email).count() == 1


def test_forms_require_csrf(customer):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"email": customer.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403


def test_logout_requires_post(client, customer):
    client.force_login(customer)
    assert client.get("/logout/").status_code == 405


def test_profile_changes_name_and_password(client, customer):
    client.force_login(customer)
    response = client.post(
        "/profile/",
        {"name": "New Name", "old_password": DEFAULT_PASSWORD, "new_password": "Brand-new-77"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "New Name" and customer.check_password("Brand-new-77")
    assert client.get("/profile/").status_code == 200  # session survives the password change


def test_profile_wrong_old_password(client, customer):
    client.force_login(customer)
    response = client.post(
        "/profile/", {"name": "x", "old_password": "no", "new_password": "Brand-new-77"}
    )
    assert response.status_code == 400
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)


def test_profile_needs_login(client):
    response = client.get("/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
