import pytest

from accounts.models import Role
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client):
    def make(user):
        assert client.login(username=user.email, password=DEFAULT_PASSWORD)
        return client

    return make


def test_staff_roles_sign_in_to_back_office(admin_client_for, organization):
    for role in (Role.ADMIN, Role.SENIOR_OPERATOR, Role.OPERATOR):
        user = UserFactory(organization=organization, role=role)
        client = admin_client_for(user)
        response = client.get("/admin/")
        assert response.status_code == 200
        assert b"Connector CRM back office" in response.content
        client.logout()


def test_customer_cannot_enter_back_office(admin_client_for, customer):
    response = admin_client_for(customer).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_user_changelist_is_scoped_to_organization(
    admin_client_for, admin_user, operator, other_admin, other_customer
):
    response = admin_client_for(admin_user).get("/admin/accounts/user/")
    assert response.status_code == 200
    content = response.content.decode()
    assert operator.email in content
    assert other_admin.email not in content
    assert other_customer.email not in content


def test_other_organizations_user_change_page_is_not_reachable(
    admin_client_for, admin_user, other_customer
):
    client = admin_client_for(admin_user)
    response = client.get(f"/admin/accounts/user/{other_customer.id}/change/")
    assert response.status_code == 302  # Django admin redirects a missing object to the index
    response = client.post(
        f"/admin/accounts/user/{other_customer.id}/change/",
        {"email": other_customer.email, "name": "hacked", "role": "admin"},
    )
    other_customer.refresh_from_db()
    assert other_customer.name != "hacked"


def test_admin_adds_user_into_own_organization(admin_client_for, admin_user, other_organization):
    client = admin_client_for(admin_user)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.op@example.com",
            "name": "New Op",
            "role": "operator",
            "is_active": "on",
            "password": "a-Long-pass-77",
            "organization": other_organization.id,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from accounts.models import User

    user = User.objects.get(email="new.op@example.com")
    assert user.organization_id == admin_user.organization_id
    assert list(user.groups.values_list("name", flat=True)) == ["operator"]


def test_organization_admin_shows_only_own(admin_client_for, admin_user, other_organization):
    response = admin_client_for(admin_user).get("/admin/accounts/organization/")
    assert response.status_code == 200
    assert other_organization.name not in response.content.decode()


def test_operator_cannot_add_users(admin_client_for, operator):
    response = admin_client_for(operator).get("/admin/accounts/user/add/")
    assert response.status_code == 403
