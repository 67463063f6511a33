import base64
import json

import pytest
from django.test import override_settings

from accounts.models import Role, User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def login(api_client, email, password=DEFAULT_PASSWORD, ip="10.0.0.1"):
    return api_client.post(
        "/api/auth/login",
        {"email": email, "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class TestRegister:
    def test_registers_customer_of_named_organization(self, api_client, organization):
        response = api_client.post(
            "/api/auth/register",
            {
                "email": "New.Person@Example.com",
                "password": "a-Long-pass-77",
                "name": "New Person",
                "organization": "acme",
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["user"]["email"] == "new.person@example.com"
        assert body["user"]["role"] == "customer"
        assert body["user"]["organization"] == "acme"
        assert body["access"] and body["refresh"]
        user = User.objects.get(email="new.person@example.com")
        assert user.organization == organization
        assert not user.is_staff

    def test_without_organization_uses_default(self, api_client, settings):
        response = api_client.post(
            "/api/auth/register",
            {"email": "d@example.com", "password": "a-Long-pass-77", "name": "D"},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["user"]["organization"] == settings.DEFAULT_ORGANIZATION

    def test_unknown_organization_is_404_and_creates_nothing(self, api_client):
        response = api_client.post(
            "/api/auth/register",
            {"email": "x@example.com", "password": "a-Long-pass-77", "organization": "nope"},
            format="json",
        )
        assert response.status_code == 404
        assert response.json()["code"] == "organization_not_found"
        assert not User.objects.filter(email="x@example.com").exists()

    def test_duplicate_email_in_other_case_is_400(self, api_client, customer):
        response = api_client.post(
            "/api/auth/register",
            {
                "email": customer.email.upper(),
                "password": "a-Long-pass-77",
                "organization": customer.organization.slug,
            },
            format="json",
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "email_taken"
        assert "email" in body
        assert User.objects.filter(email__iexact=customer.email).count() == 1

    def test_an_email_of_another_organization_registers_and_reveals_nothing(
        self, api_client, customer, other_organization
    ):
        """Emails are unique per organization: registering an address another tenant's user has
        works, and each account signs in to its own organization."""
        response = api_client.post(
            "/api/auth/register",
            {
                "email": customer.email,
                "password": "another-Long-pass-88",
                "organization": other_organization.slug,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["user"]["id"] != customer.pk
        assert User.objects.filter(email__iexact=customer.email).count() == 2
        login = api_client.post(
            "/api/auth/login",
            {"email": customer.email, "password": "another-Long-pass-88"},
            format="json",
        )
        assert login.status_code == 200
        assert login.json()["user"]["id"] == response.json()["user"]["id"]
        from accounts.tests.factories import DEFAULT_PASSWORD

        mine = api_client.post(
            "/api/auth/login",
            {"email": customer.email, "password": DEFAULT_PASSWORD},
            format="json",
        )
        assert mine.status_code == 200 and mine.json()["user"]["id"] == customer.pk

    def test_weak_password_is_400_with_validator_message(self, api_client):
        response = api_client.post(
            "/api/auth/register",
            {"email": "weak@example.com", "password": "12345"},
            format="json",
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "weak_password"
        assert "too short" in body["detail"]
        assert any("too common" in m or "entirely numeric" in m for m in body["password"])
        assert not User.objects.filter(email="weak@example.com").exists()

    def test_missing_fields_keep_per_field_map(self, api_client):
        response = api_client.post("/api/auth/register", {}, format="json")
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid"
        assert "email" in body and "password" in body
        assert body["detail"]

    def test_malformed_json_is_400_in_error_shape(self, api_client):
        response = api_client.post(
            "/api/auth/register", data="{not json", content_type="application/json"
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "parse_error"
        assert "JSON" in body["detail"]

    @override_settings(RATE_LIMITS={"register_ip": "2/h"})
    def test_register_is_throttled_per_address(self, api_client):
        for i in range(2):
            response = api_client.post(
                "/api/auth/register",
                {"email": f"r{i}@example.com", "password": "a-Long-pass-77"},
                format="json",
                REMOTE_ADDR="10.9.9.9",
            )
            assert response.status_code == 201
        response = api_client.post(
            "/api/auth/register",
            {"email": "r3@example.com", "password": "a-Long-pass-77"},
            format="json",
            REMOTE_ADDR="10.9.9.9",
        )
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert int(response["Retry-After"]) > 0
        assert not User.objects.filter(email="r3@example.com").exists()


class TestLogin:
    def test_login_returns_user_and_tokens(self, api_client, operator):
        response = login(api_client, operator.email.upper())
        assert response.status_code == 200
        body = response.json()
        assert body["user"]["id"] == operator.id
        me = api_client.get("/api/auth/me", **bearer(body["access"]))
        assert me.status_code == 200
        assert me.json()["email"] == operator.email

    def test_wrong_password_is_401(self, api_client, operator):
        response = login(api_client, operator.email, "wrong-password")
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    def test_channel_customer_without_password_cannot_log_in(self, api_client, organization):
        user = User.objects.create_user("tg@example.com", None, organization=organization)
        assert not user.has_usable_password()
        assert login(api_client, "tg@example.com", "").status_code == 400
        assert login(api_client, "tg@example.com", "anything").status_code == 401

    def test_five_failed_logins_per_email_then_429(self, api_client, operator):
        for i in range(5):
            assert login(api_client, operator.email, "bad", ip=f"10.1.0.{i}").status_code == 401
        response = login(api_client, operator.email, DEFAULT_PASSWORD, ip="10.1.0.99")
        assert response.status_code == 429
        assert response.json()["code"] == "login_throttled"
        assert int(response["Retry-After"]) > 0

    @override_settings(RATE_LIMITS={"login_ip": "3/5m", "login_email": "100/5m"})
    def test_failed_logins_per_address_then_429(self, api_client, operator):
        for i in range(3):
            assert login(api_client, f"nobody{i}@example.com", "bad").status_code == 401
        assert login(api_client, operator.email).status_code == 429
        assert login(api_client, operator.email, ip="10.2.2.2").status_code == 200

    def test_successful_logins_are_not_throttled(self, api_client, operator):
        for _ in range(8):
            assert login(api_client, operator.email).status_code == 200

    def test_deactivated_user_cannot_log_in(self, api_client, operator):
        operator.is_active = False
        operator.save()
        assert login(api_client, operator.email).status_code == 401


class TestTokens:
    def test_refresh_rotates_and_old_refresh_is_refused(self, api_client, customer):
        tokens = login(api_client, customer.email).json()
        response = api_client.post(
            "/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json"
        )
        assert response.status_code == 200
        rotated = response.json()
        assert rotated["refresh"] != tokens["refresh"] and rotated["access"]
        replay = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert replay.status_code == 401
        assert replay.json()["code"] == "token_not_valid"
        assert (
            api_client.post(
                "/api/auth/refresh", {"refresh": rotated["refresh"]}, format="json"
            ).status_code
            == 200
        )

    def test_logout_blacklists_refresh(self, api_client, customer):
        tokens = login(api_client, customer.email).json()
        response = api_client.post(
            "/api/auth/logout", {"refresh": tokens["refresh"]}, format="json"
        )
        assert response.status_code == 205
        again = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert again.status_code == 401

    def test_logout_with_garbage_is_401(self, api_client):
        response = api_client.post("/api/auth/logout", {"refresh": "garbage"}, format="json")
        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"

    def test_tampered_access_token_is_401(self, api_client, customer):
        access = login(api_client, customer.email).json()["access"]
        header, payload, signature = access.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["user_id"] = str(int(claims["user_id"]) + 1)
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        response = api_client.get("/api/auth/me", **bearer(f"{header}.{forged}.{signature}"))
        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"

    def test_alg_none_token_is_401(self, api_client, customer):
        access = login(api_client, customer.email).json()["access"]
        payload = access.split(".")[1]
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        response = api_client.get("/api/auth/me", **bearer(f"{header}.{payload}."))
        assert response.status_code == 401

    def test_refresh_token_used_as_access_is_401(self, api_client, customer):
        refresh = login(api_client, customer.email).json()["refresh"]
        response = api_client.get("/api/auth/me", **bearer(refresh))
        assert response.status_code == 401

    def test_no_token_is_401(self, api_client):
        response = api_client.get("/api/auth/me")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    def test_deactivated_users_token_is_401(self, api_client, admin_user, operator, client_for):
        tokens = login(api_client, operator.email).json()
        assert api_client.get("/api/auth/verify", **bearer(tokens["access"])).status_code == 200
        response = client_for(admin_user).patch(
            f"/api/users/{operator.id}", {"is_active": False}, format="json"
        )
        assert response.status_code == 200
        assert api_client.get("/api/auth/verify", **bearer(tokens["access"])).status_code == 401
        refresh = api_client.post(
            "/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json"
        )
        assert refresh.status_code == 401

    def test_verify_returns_user(self, client_for, customer):
        response = client_for(customer).get("/api/auth/verify")
        assert response.status_code == 200
        assert response.json()["user"]["id"] == customer.id


class TestMe:
    def test_patch_name(self, client_for, customer):
        response = client_for(customer).patch("/api/auth/me", {"name": "Renamed"}, format="json")
        assert response.status_code == 200
        customer.refresh_from_db()
        assert customer.name == "Renamed"

    def test_password_change_needs_old_password(self, client_for, customer):
        client = client_for(customer)
        response = client.patch(
            "/api/auth/me",
            {"old_password": "nope", "new_password": "Another-long-9"},
            format="json",
        )
        assert response.status_code == 400
        assert response.json()["code"] == "wrong_password"
        customer.refresh_from_db()
        assert customer.check_password(DEFAULT_PASSWORD)
        response = client.patch(
            "/api/auth/me",
            {"old_password": DEFAULT_PASSWORD, "new_password": "Another-long-9"},
            format="json",
        )
        assert response.status_code == 200
        customer.refresh_from_db()
        assert customer.check_password("Another-long-9")

    def test_weak_new_password_refused(self, client_for, customer):
        response = client_for(customer).patch(
            "/api/auth/me",
            {"old_password": DEFAULT_PASSWORD, "new_password": "abc"},
            format="json",
        )
        assert response.status_code == 400
        assert "new_password" in response.json()
        customer.refresh_from_db()
        assert customer.check_password(DEFAULT_PASSWORD)

    def test_role_cannot_be_changed_through_me(self, client_for, customer):
        client_for(customer).patch("/api/auth/me", {"role": "admin"}, format="json")
        customer.refresh_from_db()
        assert customer.role == Role.CUSTOMER


class TestErrorShape:
    def test_unknown_api_path_is_json_404(self, api_client):
        response = api_client.get("/api/does-not-exist")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found.", "code": "not_found"}

    def test_wrong_method_is_json_405(self, client_for, customer):
        response = client_for(customer).delete("/api/auth/me")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"

    def test_server_error_on_api_path_is_json_500(self, client, settings):
        from django.test import RequestFactory

        from crm.errors import json_or_html_500

        response = json_or_html_500(RequestFactory().get("/api/anything"))
        assert response.status_code == 500
        assert json.loads(response.content) == {
            "detail": "Internal server error.",
            "code": "server_error",
        }


def test_user_factory_password_works(api_client, organization):
    user = UserFactory(organization=organization)
    assert login(api_client, user.email).status_code == 200
