"""Writes of orders: create, edit while new, status workflow, delete.

Each runs in one transaction with the row that races locked (the order, or the organization's
number sequence on creation); the OrderEvent, the system message in the order's chat and
``order:updated`` commit or roll back together, and the events leave only after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Role, User
from chats.models import Chat, ChatKind
from chats.services import message_post_system, support_chat_get_or_create
from crm.errors import Conflict, Forbidden, ValidationFailed
from crm.tenancy import scoped
from orders import error_codes, events, money
from orders.models import (
    Order,
    OrderEvent,
    OrderItem,
    OrderNumberSequence,
    OrderStatus,
    next_statuses,
    status_label,
)
from orders.selectors import order_for, orders_visible_to

MAX_ITEMS = 100
MAX_COMMENT_LENGTH = 1000


class InvalidTransition(Conflict):
    code = error_codes.INVALID_TRANSITION


@dataclass(frozen=True)
class ItemLine:
    """A validated order line with its total computed here, never taken from the client."""

    name: str
    quantity: Decimal
    unit_price: Decimal
    total: Decimal


# --- Validation -----------------------------------------------------------------------------


def _money_text(amount: Decimal, currency: str) -> str:
    return number_format(
        money.round_money(amount, currency),
        decimal_pos=money.minor_units(currency),
        force_grouping=True,
    )


# System lines are written when posted, in the organization's language (chats.services).
_money_lazy = lazy(_money_text, str)
_status_label_lazy = lazy(status_label, str)


def order_items_clean(items: Iterable[Mapping[str, Any]], *, currency: str) -> list[ItemLine]:
    """Check order lines (name, quantity, unit_price) and compute their totals in ``currency``.

    Raises ``ValidationFailed`` with DRF's shape for list fields: ``{"items": [{}, {"quantity":
    [...]}]}``, one map per line, empty for the good ones.
    """
    items = list(items)
    if len(items) > MAX_ITEMS:
        raise ValidationFailed(
            _("An order has at most %(MAX_ITEMS)s items.") % {"MAX_ITEMS": MAX_ITEMS},
            code=error_codes.TOO_MANY_ITEMS,
            fields={"items": [_("At most %(MAX_ITEMS)s items.") % {"MAX_ITEMS": MAX_ITEMS}]},
        )
    places = money.minor_units(currency)
    lines: list[ItemLine] = []
    errors: list[dict[str, list[str]]] = []
    for item in items:
        problems: dict[str, list[str]] = {}
        name = str(item.get("name") or "").strip()
        if not name:
            problems["name"] = ["An item needs a name."]
        elif len(name) > OrderItem.NAME_MAX_LENGTH:
            problems["name"] = [f"At most {OrderItem.NAME_MAX_LENGTH} characters."]
        quantity = _amount(item.get("quantity"), "quantity", problems)
        if quantity is not None:
            if quantity <= 0:
                problems["quantity"] = ["Must be greater than 0."]
            elif quantity > money.MAX_QUANTITY:
                problems["quantity"] = [f"At most {money.MAX_QUANTITY}."]
            elif money.places_of(quantity) > money.QUANTITY_PLACES:
                problems["quantity"] = [f"At most {money.QUANTITY_PLACES} decimal places."]
        unit_price = _amount(item.get("unit_price"), "unit_price", problems)
        if unit_price is not None:
            if unit_price < 0:
                problems["unit_price"] = ["Must be 0 or more."]
            elif unit_price > money.MAX_UNIT_PRICE:
                problems["unit_price"] = [f"At most {money.MAX_UNIT_PRICE}."]
            elif money.places_of(unit_price) > places:
                problems["unit_price"] = [f"{currency} has {places} decimal places at most."]
        if not problems:
            assert quantity is not None and unit_price is not None
            total = money.line_total(quantity, unit_price, currency)
            if total > money.MAX_TOTAL:
                problems["quantity"] = ["The line total is too large."]
            else:
                lines.append(ItemLine(name, quantity, unit_price, total))
        errors.append(problems)
    if any(errors):
        raise ValidationFailed(
            _("Some order items are invalid."),
            code=error_codes.INVALID_ITEMS,
            fields={"items": errors},
        )
    if _total_of(lines) > money.MAX_TOTAL:
        raise ValidationFailed(
            _("The order total exceeds %(MAX_TOTAL)s.") % {"MAX_TOTAL": money.MAX_TOTAL},
            code=error_codes.TOTAL_TOO_LARGE,
            fields={"items": [_("The order total is too large.")]},
        )
    return lines


def _amount(value: Any, field: str, problems: dict[str, list[str]]) -> Decimal | None:
    if value is None or value == "":
        problems[field] = ["This field is required."]
        return None
    try:
        return money.to_decimal(value)
    except (TypeError, ValueError) as exc:
        problems[field] = [f"A decimal number is required ({exc})."]
        return None


def _clean_currency(currency: str) -> str:
    currency = (currency or "").strip().upper()
    try:
        money.validate_currency(currency)
    except ValidationError as exc:
        raise ValidationFailed(
            exc.messages[0], code=error_codes.INVALID_CURRENCY, fields={"currency": exc.messages}
        ) from None
    return currency


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ValidationFailed(
            _("An order needs a title."),
            code=error_codes.INVALID_TITLE,
            fields={"title": [_("Required.")]},
        )
    if len(title) > Order.TITLE_MAX_LENGTH:
        raise ValidationFailed(
            _("The title is limited to %(TITLE_MAX_LENGTH)s characters.")
            % {"TITLE_MAX_LENGTH": Order.TITLE_MAX_LENGTH},
            code=error_codes.INVALID_TITLE,
            fields={
                "title": [
                    _("At most %(TITLE_MAX_LENGTH)s characters.")
                    % {"TITLE_MAX_LENGTH": Order.TITLE_MAX_LENGTH}
                ]
            },
        )
    return title


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > Order.DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed(
            _("The description is limited to %(DESCRIPTION_MAX_LENGTH)s characters.")
            % {"DESCRIPTION_MAX_LENGTH": Order.DESCRIPTION_MAX_LENGTH},
            code=error_codes.INVALID_DESCRIPTION,
            fields={
                "description": [
                    _("At most %(DESCRIPTION_MAX_LENGTH)s characters.")
                    % {"DESCRIPTION_MAX_LENGTH": Order.DESCRIPTION_MAX_LENGTH}
                ]
            },
        )
    return description


# --- Helpers --------------------------------------------------------------------------------


def _customer_for(actor: User, customer_id: int | None) -> User:
    if actor.is_customer:
        if customer_id not in (None, actor.pk):
            raise Forbidden(
                _("Customers order for themselves only."), code=error_codes.CUSTOMER_MISMATCH
            )
        return actor
    if not actor.is_staff:
        raise Forbidden(_("Only customers and staff create orders."))
    if customer_id is None:
        raise ValidationFailed(
            _("Staff create an order for a customer: give customer_id."),
            code=error_codes.CUSTOMER_REQUIRED,
            fields={"customer_id": [_("This field is required.")]},
        )
    customers = User.objects.filter(role=Role.CUSTOMER)
    if not actor.is_superuser:
        customers = scoped(customers, actor.organization_id)
    customer = customers.filter(pk=customer_id).first()
    if customer is None:  # the same answer for a missing and another organization's customer
        raise ValidationFailed(
            _("No such customer in your organization."),
            code=error_codes.CUSTOMER_NOT_FOUND,
            fields={"customer_id": [_("No such customer.")]},
        )
    return customer


def _chat_for(customer: User, chat_id: int | None) -> Chat:
    """The chat an order belongs to: the given support chat of the customer, or their web one."""
    if chat_id is None:
        chat, _created = support_chat_get_or_create(customer=customer)
        return chat
    chat = Chat.objects.filter(
        pk=chat_id,
        kind=ChatKind.SUPPORT,
        customer=customer,
        organization_id=customer.organization_id,
    ).first()
    if chat is None:
        raise ValidationFailed(
            _("The chat must be a support chat of the order's customer."),
            code=error_codes.CHAT_NOT_FOUND,
            fields={"chat_id": [_("No such support chat of this customer.")]},
        )
    return chat


def _next_number(organization_id: int) -> int:
    """Take the organization's next order number, holding its sequence row until commit."""
    OrderNumberSequence.objects.bulk_create(
        [OrderNumberSequence(organization_id=organization_id, last_number=Order.FIRST_NUMBER - 1)],
        ignore_conflicts=True,  # the first orders of an organization may race to create it
    )
    sequence = OrderNumberSequence.objects.select_for_update().get(organization_id=organization_id)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


def _locked(actor: User, order: Order) -> Order:
    """The order's row, locked until commit, if the actor may see it (else NotFound)."""
    orders = Order.objects.all() if actor.is_superuser else orders_visible_to(actor)
    return order_for(actor, order.pk, queryset=orders.select_for_update())


def _total_of(lines: list[ItemLine]) -> Decimal:
    return sum((line.total for line in lines), Decimal(0))


def _items_write(order: Order, lines: list[ItemLine], *, replace: bool) -> None:
    if replace:
        order.items.all().delete()
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order=order,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                total=line.total,
            )
            for line in lines
        ]
    )


# --- Writes ---------------------------------------------------------------------------------


@transaction.atomic
def order_create(
    *,
    actor: User,
    title: str,
    customer_id: int | None = None,
    chat_id: int | None = None,
    description: str = "",
    currency: str = money.DEFAULT_CURRENCY,
    items: Iterable[Mapping[str, Any]] = (),
) -> Order:
    """A customer orders for themselves; staff order for a customer of their organization.

    The order joins the customer's support chat (``chat_id`` or the web one, created if need
    be) and gets the organization's next number. Creation is the first history entry; a
    system message in the chat and ``order:updated`` follow on commit.
    """
    customer = _customer_for(actor, customer_id)
    title = _clean_title(title)
    description = _clean_description(description)
    currency = _clean_currency(currency)
    lines = order_items_clean(items, currency=currency)
    chat = _chat_for(customer, chat_id)
    now = timezone.now()
    order = Order(
        organization_id=customer.organization_id,
        number=_next_number(customer.organization_id),
        customer=customer,
        chat=chat,
        title=title,
        description=description,
        currency=currency,
        total=_total_of(lines),
        status=OrderStatus.NEW,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    order.save()
    _items_write(order, lines, replace=False)
    OrderEvent.objects.create(
        order=order, from_status="", to_status=OrderStatus.NEW, actor=actor, created_at=now
    )
    message_post_system(
        chat=chat,
        text=format_lazy(
            gettext_lazy("Order {number} created: {title} ({total} {currency})"),
            number=order.display_number,
            title=title,
            total=_money_lazy(order.total, currency),
            currency=currency,
        ),
    )
    events.order_updated(order)
    return order


@transaction.atomic
def order_update(
    *,
    actor: User,
    order: Order,
    title: str | None = None,
    description: str | None = None,
    currency: str | None = None,
    items: Iterable[Mapping[str, Any]] | None = None,
) -> Order:
    """Edit a new order: its customer, or a senior operator or admin. ``items`` replaces all
    lines. Emits ``order:updated`` when something changed."""
    order = _locked(actor, order)
    if not (actor.is_manager or (actor.is_customer and order.customer_id == actor.pk)):
        raise Forbidden(_("Only the customer, a senior operator or an admin edits an order."))
    if order.status != OrderStatus.NEW:
        raise Conflict(
            _("Order %(display_number)s is %(status_label)s: only new orders can be edited.")
            % {"display_number": order.display_number, "status_label": status_label(order.status)},
            code=error_codes.ORDER_NOT_EDITABLE,
            current_status=order.status,
        )
    changed: list[str] = []
    if title is not None and (title := _clean_title(title)) != order.title:
        order.title = title
        changed.append("title")
    if description is not None and (description := _clean_description(description)) != (
        order.description
    ):
        order.description = description
        changed.append("description")
    if currency is not None and (currency := _clean_currency(currency)) != order.currency:
        order.currency = currency
        changed.append("currency")
    if items is not None or "currency" in changed:
        if items is None:  # the existing lines, checked against (and rounded in) the new currency
            items = order.items.values("name", "quantity", "unit_price")
        lines = order_items_clean(items, currency=order.currency)
        _items_write(order, lines, replace=True)
        order.total = _total_of(lines)
        changed.append("total")
    if not changed:
        return order
    order.updated_at = timezone.now()
    order.save(update_fields=[*changed, "updated_at"])
    events.order_updated(order)
    return order


def status_choices_for(actor: User, order: Order) -> tuple[str, ...]:
    """The statuses ``actor`` may move ``order`` to now."""
    if actor.is_manager:
        return next_statuses(order.status)
    if actor.is_customer and order.customer_id == actor.pk and order.status == OrderStatus.NEW:
        return (OrderStatus.CANCELLED,)
    return ()


@transaction.atomic
def order_status_change(*, actor: User, order: Order, status: str, comment: str = "") -> Order:
    """Move the order along the workflow. Senior operators and admins take any allowed step; a
    customer may cancel their own order while it is new.

    With the row locked, a second concurrent change sees the first one's result: changing to
    the same status twice answers 409 the second time, so history never repeats a step.
    """
    if status not in OrderStatus.values:
        raise ValidationFailed(
            _("Unknown status %(status)r.") % {"status": status},
            code=error_codes.INVALID_STATUS,
            fields={"status": [_("Unknown.")]},
        )
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(
            _("The comment is limited to %(MAX_COMMENT_LENGTH)s characters.")
            % {"MAX_COMMENT_LENGTH": MAX_COMMENT_LENGTH},
            code=error_codes.INVALID_COMMENT,
            fields={
                "comment": [
                    _("At most %(MAX_COMMENT_LENGTH)s characters.")
                    % {"MAX_COMMENT_LENGTH": MAX_COMMENT_LENGTH}
                ]
            },
        )
    order = _locked(actor, order)
    if not actor.is_manager and not (actor.is_customer and status == OrderStatus.CANCELLED):
        raise Forbidden(
            _(
                "Only senior operators and admins change an order's status; "
                "a customer may cancel a new order."
            ),
            code=error_codes.STATUS_CHANGE_FORBIDDEN,
        )
    allowed = status_choices_for(actor, order)
    if status not in allowed:
        raise InvalidTransition(
            _("Order %(number)s is %(status)s: it cannot become %(target)s.")
            % {
                "number": order.display_number,
                "status": status_label(order.status),
                "target": status_label(status),
            },
            current_status=order.status,
            allowed=list(allowed),
        )
    previous = order.status
    now = timezone.now()
    order.status = status
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    OrderEvent.objects.create(
        order=order,
        from_status=previous,
        to_status=status,
        actor=actor,
        comment=comment,
        created_at=now,
    )
    text = format_lazy(
        gettext_lazy("Order {number}: {previous} → {status}"),
        number=order.display_number,
        previous=_status_label_lazy(previous),
        status=_status_label_lazy(status),
    )
    if comment:
        text = format_lazy("{} — {}", text, comment)
    message_post_system(chat=order.chat, text=text)
    events.order_updated(order)
    return order


@transaction.atomic
def order_delete(*, actor: User, order: Order) -> None:
    """An admin deletes an order with its items and history (its chat lines stay)."""
    order = _locked(actor, order)
    if not actor.is_org_admin:
        raise Forbidden(_("Only an organization admin deletes orders."))
    order.delete()
