import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organization, Role, User
from crm.demo import DEMO_USERS

pytestmark = pytest.mark.django_db


def _snapshot():
    return sorted(
        User.objects.filter(organization__slug="demo").values_list(
            "id", "email", "role", "name", "organization_id"
        )
    )


def test_seed_demo_twice_gives_the_same_data(capsys):
    call_command("seed_demo")
    first = _snapshot()
    orgs = Organization.objects.count()
    out = capsys.readouterr().out
    assert "admin@demo.example.com" in out and "demo-admin-2025" in out
    call_command("seed_demo")
    assert _snapshot() == first
    assert Organization.objects.count() == orgs
    roles = sorted(role for *_, role, _, _ in [(i, e, r, n, o) for i, e, r, n, o in first])
    assert set(roles) == {"admin", "senior_operator", "operator", "customer"}
    assert roles.count("customer") >= 6  # a living inbox
    for login in DEMO_USERS:
        assert User.objects.get(email=login.email).check_password(login.password)


def test_create_organization(capsys):
    call_command(
        "create_organization",
        "initech",
        "--name",
        "Initech",
        "--admin-email",
        "Boss@Initech.example",
        "--admin-password",
        "a-Long-pass-77",
    )
    org = Organization.objects.get(slug="initech")
    admin = User.objects.get(email="boss@initech.example")
    assert admin.organization == org and admin.role == Role.ADMIN and admin.is_staff
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_organization",
            "initech",
            "--admin-email",
            "x@initech.example",
            "--admin-password",
            "a-Long-pass-77",
        )


def test_create_organization_rolls_back_on_weak_password():
    with pytest.raises(CommandError):
        call_command(
            "create_organization",
            "weakco",
            "--admin-email",
            "a@weakco.example",
            "--admin-password",
            "123",
        )
    assert not Organization.objects.filter(slug="weakco").exists()


def test_default_organization_exists_after_migrate(settings):
    assert Organization.objects.filter(slug=settings.DEFAULT_ORGANIZATION).exists()
