"""Demo data for a first look: one organization with an admin, two operators (online, with
profiles) and a customer, and a few canned responses.

Idempotent: running it again finds what exists and creates only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Organization, Role, User
from accounts.services import user_groups_sync
from operators.models import Availability, CannedResponse, OperatorProfile
from orders.models import Order, OrderStatus
from orders.services import order_create, order_status_change

DEMO_ORGANIZATION = ("demo", "Demo Shop")


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    name: str


DEMO_CANNED_RESPONSES = [
    ("hello", "Hello! Thanks for writing to Demo Shop. How can I help you today?"),
    ("order-status", "Let me check the status of your order. Could you send me its number?"),
    ("delivery", "Delivery usually takes 2 to 4 business days after the order ships."),
    ("refund", "I'm sorry about that. I've started a refund; it reaches your card in 5-7 days."),
    ("bye", "Glad I could help! Write any time if you have more questions."),
]

DEMO_USERS = [
    DemoLogin(Role.ADMIN, "admin@demo.example.com", "demo-admin-2025", "Alice Admin"),
    DemoLogin(Role.SENIOR_OPERATOR, "olga@demo.example.com", "demo-operator-2025", "Olga Senior"),
    DemoLogin(Role.OPERATOR, "oscar@demo.example.com", "demo-operator-2025", "Oscar Operator"),
    DemoLogin(Role.CUSTOMER, "customer@demo.example.com", "demo-customer-2025", "Carl Customer"),
]


# (title, [(item, quantity, unit price)], status steps after creation), in EUR.
DEMO_ORDERS = [
    (
        "Espresso machine with descaler",
        [("Espresso machine Classic", "1", "349.00"), ("Descaler 500 ml", "2", "9.90")],
        [OrderStatus.CONFIRMED, OrderStatus.IN_PROGRESS],
    ),
    ("Coffee beans, monthly", [("Coffee beans 1 kg", "3", "18.50")], []),
]


@transaction.atomic
def seed_demo() -> tuple[Organization, list[DemoLogin]]:
    slug, name = DEMO_ORGANIZATION
    organization, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
    users: dict[str, User] = {}
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
        users[login.role] = user
        if user.role in (Role.SENIOR_OPERATOR, Role.OPERATOR):
            # Online, so the demo customer's chat is assigned at once.
            OperatorProfile.objects.get_or_create(
                user=user, defaults={"availability": Availability.ONLINE, "capacity": 5}
            )
    for shortcut, text in DEMO_CANNED_RESPONSES:
        CannedResponse.objects.get_or_create(
            organization=organization, shortcut=shortcut, defaults={"text": text}
        )
    _seed_demo_orders(customer=users[Role.CUSTOMER], staff=users[Role.SENIOR_OPERATOR])
    return organization, DEMO_USERS


def _seed_demo_orders(*, customer: User, staff: User) -> None:
    """The demo customer's orders, each created once (found again by its title)."""
    for title, items, steps in DEMO_ORDERS:
        if Order.objects.filter(customer=customer, title=title).exists():
            continue
        order = order_create(
            actor=staff,
            customer_id=customer.pk,
            title=title,
            currency="EUR",
            items=[{"name": n, "quantity": q, "unit_price": p} for n, q, p in items],
        )
        for status in steps:
            order = order_status_change(actor=staff, order=order, status=status)
