from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Role
from orders import money


class OrderStatus(models.TextChoices):
    NEW = "new", _("New")
    CONFIRMED = "confirmed", _("Confirmed")
    IN_PROGRESS = "in_progress", _("In progress")
    SHIPPED = "shipped", _("Shipped")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


# The workflow: forward one step at a time, or cancelled from any state that is not final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OrderStatus.NEW: (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    OrderStatus.CONFIRMED: (OrderStatus.IN_PROGRESS, OrderStatus.CANCELLED),
    OrderStatus.IN_PROGRESS: (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
    OrderStatus.SHIPPED: (OrderStatus.DONE, OrderStatus.CANCELLED),
    OrderStatus.DONE: (),
    OrderStatus.CANCELLED: (),
}
FINAL_STATUSES = frozenset(status for status, targets in TRANSITIONS.items() if not targets)


def next_statuses(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def status_label(status: str) -> str:
    """``in_progress`` → ``in progress``: how a status reads inside a sentence."""
    return OrderStatus(status).label.lower() if status in OrderStatus.values else status


class OrderNumberSequence(models.Model):
    """The last order number given out in an organization. Its row is locked while an order is
    created, so numbers come out one by one; the increment commits or rolls back with the order,
    which leaves no gaps and no duplicates."""

    tenant_path = "organization"

    organization = models.OneToOneField(
        "accounts.Organization",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="order_number_sequence",
    )
    last_number = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.last_number}"


class Order(models.Model):
    tenant_path = "organization"

    FIRST_NUMBER = 1001  # an organization's first order is #1001
    TITLE_MAX_LENGTH = 200
    DESCRIPTION_MAX_LENGTH = 5000

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="orders"
    )
    number = models.PositiveIntegerField(editable=False)
    # Orders are business records: a customer (and their chat) with orders is not deleted.
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="orders",
        limit_choices_to={"role": Role.CUSTOMER},
    )
    chat = models.ForeignKey("chats.Chat", on_delete=models.PROTECT, related_name="orders")
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    currency = models.CharField(
        max_length=3, default=money.DEFAULT_CURRENCY, validators=[money.validate_currency]
    )
    total = models.DecimalField(
        max_digits=money.TOTAL_MAX_DIGITS,
        decimal_places=money.MONEY_PLACES,
        default=Decimal(0),
        editable=False,
    )
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.NEW, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="orders_number_unique_per_organization"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="orders_org_status_idx"),
            models.Index(fields=["customer", "-created_at"], name="orders_customer_created_idx"),
            models.Index(fields=["organization", "-created_at"], name="orders_org_created_idx"),
        ]

    def __str__(self) -> str:
        return gettext("Order %(number)s: %(title)s") % {
            "number": self.display_number,
            "title": self.title,
        }

    @property
    def display_number(self) -> str:
        return f"#{self.number}"


class OrderItem(models.Model):
    tenant_path = "order__organization"

    NAME_MAX_LENGTH = 200

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    quantity = models.DecimalField(
        max_digits=money.QUANTITY_MAX_DIGITS,
        decimal_places=money.QUANTITY_PLACES,
        validators=[MinValueValidator(money.MIN_QUANTITY)],
    )
    unit_price = models.DecimalField(
        max_digits=money.PRICE_MAX_DIGITS,
        decimal_places=money.MONEY_PLACES,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(money.MAX_UNIT_PRICE)],
    )
    # quantity × unit price, rounded to the currency's minor unit; the order total is their sum.
    total = models.DecimalField(
        max_digits=money.TOTAL_MAX_DIGITS, decimal_places=money.MONEY_PLACES, editable=False
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} × {money.format_quantity(self.quantity)}"


class OrderEvent(models.Model):
    """One entry of an order's status history. Creation is the first (from ``""`` to ``new``)."""

    tenant_path = "order__organization"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=OrderStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        previous = self.get_from_status_display() if self.from_status else "—"
        return f"{previous} → {self.get_to_status_display()}"
