import pytest
from django.contrib.auth.models import Group

from accounts.models import Role, User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class TestCrossOrganization:
    """A user of one organization gets 404 for every accounts object of another."""

    @pytest.mark.parametrize(
        "role", [Role.ADMIN, Role.SENIOR_OPERATOR, Role.OPERATOR, Role.CUSTOMER]
    )
    def test_other_organizations_user_is_404(
        self, client_for, organization, other_admin, other_customer, role
    ):
        me = UserFactory(organization=organization, role=role)
        client = client_for(me)
        for target in (other_admin, other_customer):
            response = client.get(f"/api/users/{target.id}")
            assert response.status_code == 404
            assert response.json()["code"] == "user_not_found"

    def test_admin_cannot_patch_other_organizations_user(self, client_for, admin_user, other_admin):
        response = client_for(admin_user).patch(
            f"/api/users/{other_admin.id}",
            {"is_active": False, "role": "customer"},
            format="json",
        )
        assert response.status_code == 404
        other_admin.refresh_from_db()
        assert other_admin.is_active and other_admin.role == Role.ADMIN

    def test_search_never_returns_other_organization(self, client_for, operator, other_admin):
        other_admin.name = "Zed Unique"
        other_admin.save()
        UserFactory(organization=operator.organization, name="Zed Local")
        response = client_for(operator).get("/api/users/search", {"q": "Zed"})
        assert response.status_code == 200
        names = [u["name"] for u in response.json()["results"]]
        assert names == ["Zed Local"]

    def test_user_list_only_own_staff(
        self, client_for, admin_user, operator, customer, other_admin
    ):
        response = client_for(admin_user).get("/api/users")
        assert response.status_code == 200
        ids = {u["id"] for u in response.json()["results"]}
        assert ids == {admin_user.id, operator.id}

    def test_register_cannot_create_staff_or_cross_tenant_admin(self, api_client, organization):
        response = api_client.post(
            "/api/auth/register",
            {
                "email": "sneaky@example.com",
                "password": "a-Long-pass-77",
                "organization": "acme",
                "role": "admin",
            },
            format="json",
        )
        assert response.status_code == 201
        assert User.objects.get(email="sneaky@example.com").role == Role.CUSTOMER


class TestUserVisibility:
    def test_customer_sees_self_and_staff_but_not_other_customers(
        self, client_for, customer, operator, organization
    ):
        other = UserFactory(organization=organization, role=Role.CUSTOMER)
        client = client_for(customer)
        assert client.get(f"/api/users/{customer.id}").json()["email"] == customer.email
        staff = client.get(f"/api/users/{operator.id}").json()
        assert staff["name"] == operator.name and "email" not in staff
        assert client.get(f"/api/users/{other.id}").status_code == 404

    def test_customer_cannot_search(self, client_for, customer):
        assert client_for(customer).get("/api/users/search", {"q": "a"}).status_code == 403


class TestStaffManagement:
    def test_admin_creates_operator_with_group(self, client_for, admin_user, organization):
        response = client_for(admin_user).post(
            "/api/users",
            {
                "email": "Op@Example.com",
                "name": "Op",
                "role": "operator",
                "password": "a-Long-pass-77",
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        user = User.objects.get(email="op@example.com")
        assert user.organization == organization
        assert user.is_staff
        assert list(user.groups.values_list("name", flat=True)) == ["operator"]

    def test_admin_cannot_create_customer_through_staff_api(self, client_for, admin_user):
        response = client_for(admin_user).post(
            "/api/users",
            {"email": "c@example.com", "role": "customer", "password": "a-Long-pass-77"},
            format="json",
        )
        assert response.status_code == 400
        assert "role" in response.json()

    @pytest.mark.parametrize("role", [Role.SENIOR_OPERATOR, Role.OPERATOR, Role.CUSTOMER])
    def test_non_admins_cannot_manage_staff(self, client_for, organization, operator, role):
        me = UserFactory(organization=organization, role=role)
        client = client_for(me)
        created = client.post(
            "/api/users",
            {"email": "x@example.com", "role": "admin", "password": "a-Long-pass-77"},
            format="json",
        )
        assert created.status_code == 403
        assert not User.objects.filter(email="x@example.com").exists()
        patched = client.patch(f"/api/users/{operator.id}", {"role": "admin"}, format="json")
        assert patched.status_code in (403, 404)
        operator.refresh_from_db()
        assert operator.role == Role.OPERATOR
        assert client.get("/api/users").status_code == 403

    def test_role_change_moves_group(self, client_for, admin_user, operator):
        response = client_for(admin_user).patch(
            f"/api/users/{operator.id}", {"role": "senior_operator"}, format="json"
        )
        assert response.status_code == 200
        operator.refresh_from_db()
        assert operator.role == Role.SENIOR_OPERATOR
        assert list(operator.groups.values_list("name", flat=True)) == ["senior_operator"]

    def test_admin_cannot_deactivate_self(self, client_for, admin_user):
        response = client_for(admin_user).patch(
            f"/api/users/{admin_user.id}", {"is_active": False}, format="json"
        )
        assert response.status_code == 400
        admin_user.refresh_from_db()
        assert admin_user.is_active

    def test_role_groups_have_permissions(self):
        admin = Group.objects.get(name="admin")
        operator = Group.objects.get(name="operator")
        assert admin.permissions.filter(codename="add_user").exists()
        assert not operator.permissions.filter(codename="add_user").exists()
        assert operator.permissions.filter(codename="view_user").exists()
