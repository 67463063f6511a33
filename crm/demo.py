"""Demo data for a first look: one organization with an admin, two operators and a customer.

Idempotent: running it again finds what exists and creates only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Organization, Role, User
from accounts.services import user_groups_sync

DEMO_ORGANIZATION = ("demo", "Demo Shop")


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    name: str


DEMO_USERS = [
    DemoLogin(Role.ADMIN, "admin@demo.example.com", "demo-admin-2025", "Alice Admin"),
    DemoLogin(Role.SENIOR_OPERATOR, "olga@demo.example.com", "demo-operator-2025", "Olga Senior"),
    DemoLogin(Role.OPERATOR, "oscar@demo.example.com", "demo-operator-2025", "Oscar Operator"),
    DemoLogin(Role.CUSTOMER, "customer@demo.example.com", "demo-customer-2025", "Carl Customer"),
]


@transaction.atomic
def seed_demo() -> tuple[Organization, list[DemoLogin]]:
    slug, name = DEMO_ORGANIZATION
    organization, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
    for login in DEMO_USERS:
        user = User.objects.filter(email__iexact=login.email).first()
        if user is None:
            user = User(
                email=login.email, name=login.name, role=login.role, organization=organization
            )
            user.set_password(login.password)
            user.save()
        elif not user.check_password(login.password):
            user.set_password(login.password)
            user.save(update_fields=["password"])
        user_groups_sync(user)
    return organization, DEMO_USERS
