"""Money arithmetic: decimals only, rounding to the currency's minor unit, input limits."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.errors import ValidationFailed
from orders import money
from orders.models import Order, OrderItem
from orders.services import MAX_ITEMS, order_create, order_items_clean, order_update
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def item(quantity="1", unit_price="1.00", name="Thing") -> dict:
    return {"name": name, "quantity": quantity, "unit_price": unit_price}


def test_float_would_be_wrong_and_decimals_are_exact(customer):
    # 0.1 + 0.2 in binary floating point is 0.30000000000000004; three lines of 0.10 must be 0.30.
    assert 0.1 * 3 != 0.3
    order = make_order(customer, items=[item("3", "0.10"), item("1", "0.20")], currency="EUR")
    order.refresh_from_db()
    assert order.total == Decimal("0.50")
    assert isinstance(order.total, Decimal)
    assert [i.total for i in order.items.all()] == [Decimal("0.30"), Decimal("0.20")]


def test_line_total_rounds_half_up_to_the_minor_unit():
    assert money.line_total(Decimal("1"), Decimal("2.675"), "KWD") == Decimal("2.675")
    assert money.line_total(Decimal("0.5"), Decimal("0.05"), "EUR") == Decimal("0.03")  # .025
    assert money.line_total(Decimal("0.333"), Decimal("3"), "USD") == Decimal("1.00")  # .999
    assert money.line_total(Decimal("1.5"), Decimal("1"), "JPY") == Decimal("2")
    assert money.line_total(Decimal("2.5"), Decimal("1"), "JPY") == Decimal("3")  # not banker's


def test_order_total_is_the_sum_of_rounded_lines(customer):
    # 0.335 × 3 = 1.005 → 1.01 per line: the total is the sum of what each line shows (2.02),
    # not the rounded exact sum (2.01).
    order = make_order(customer, items=[item("0.335", "3", "a"), item("0.335", "3", "b")])
    assert order.total == Decimal("2.02")
    order = make_order(customer, items=[item("0.5", "0.01"), item("0.5", "0.01")], currency="EUR")
    assert order.total == Decimal("0.02")  # each 0.005 rounds up to 0.01


def test_amounts_refuse_float_and_bool():
    with pytest.raises(TypeError):
        money.to_decimal(0.1)
    with pytest.raises(TypeError):
        money.to_decimal(True)
    with pytest.raises(ValueError):
        money.to_decimal("NaN")
    with pytest.raises(ValueError):
        money.to_decimal("-Infinity")
    assert money.to_decimal("  12.50 ") == Decimal("12.50")
    assert money.to_decimal(3) == Decimal(3)


def test_service_refuses_float_amounts(customer):
    with pytest.raises(ValidationFailed) as caught:
        order_items_clean([item(quantity=1.5)], currency="EUR")
    assert "quantity" in caught.value.extra["fields"]["items"][0]


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (item(quantity="0"), "quantity", "greater than 0"),
        (item(quantity="-1"), "quantity", "greater than 0"),
        (item(quantity="0.0001"), "quantity", "3 decimal places"),
        (item(quantity="10000000"), "quantity", "At most"),
        (item(unit_price="-0.01"), "unit_price", "0 or more"),
        (item(unit_price="10000000000"), "unit_price", "At most"),
        (item(unit_price="1.001"), "unit_price", "2 decimal places"),
        (item(quantity="1e999999999"), "quantity", "At most"),
        (item(unit_price="1e-50"), "unit_price", "2 decimal places"),
        (item(quantity="abc"), "quantity", "decimal number"),
        (item(unit_price=""), "unit_price", "required"),
        (item(name="  "), "name", "needs a name"),
        (item(name="x" * 201), "name", "200"),
    ],
)
def test_invalid_lines_are_refused_per_field(line, field, message):
    with pytest.raises(ValidationFailed) as caught:
        order_items_clean([item(), line], currency="EUR")
    errors = caught.value.extra["fields"]["items"]
    assert errors[0] == {}  # the good line has no errors
    assert field in errors[1] and message in errors[1][field][0]
    assert caught.value.code == "invalid_items"


def test_zero_price_is_allowed_and_minor_units_follow_the_currency():
    assert order_items_clean([item(unit_price="0")], currency="EUR")[0].total == Decimal("0.00")
    with pytest.raises(ValidationFailed):
        order_items_clean([item(unit_price="100.5")], currency="JPY")  # JPY has no minor unit
    lines = order_items_clean([item(unit_price="1.125")], currency="BHD")
    assert lines[0].total == Decimal("1.125")
    # Trailing zeros are not extra places.
    assert order_items_clean([item(unit_price="100.00")], currency="JPY")[0].total == 100


def test_totals_are_bounded():
    huge = item(quantity="9999999.999", unit_price="9999999999.999")
    with pytest.raises(ValidationFailed) as caught:
        order_items_clean([huge], currency="KWD")
    assert "too large" in caught.value.extra["fields"]["items"][0]["quantity"][0]
    big = item(quantity="9999999", unit_price="99999.99")  # 999 999 800 000.01 per line
    with pytest.raises(ValidationFailed) as caught:
        order_items_clean([big, big], currency="EUR")
    assert caught.value.code == "total_too_large"
    assert order_items_clean([big], currency="EUR")[0].total == Decimal("999999800000.01")


def test_at_most_max_items():
    with pytest.raises(ValidationFailed) as caught:
        order_items_clean([item()] * (MAX_ITEMS + 1), currency="EUR")
    assert caught.value.code == "too_many_items"
    assert len(order_items_clean([item()] * MAX_ITEMS, currency="EUR")) == MAX_ITEMS


def test_largest_amounts_survive_the_database_exactly(customer):
    order = make_order(
        customer,
        items=[item("7654321.987", "130643.211")],  # 999 985 202 409.580257 → .580 in KWD
        currency="KWD",
    )
    assert order.total == Decimal("999985202409.580")
    stored = Order.objects.get(pk=order.pk)
    assert stored.total == Decimal("999985202409.580")
    line = OrderItem.objects.get(order=order)
    assert (line.quantity, line.unit_price) == (Decimal("7654321.987"), Decimal("130643.211"))


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "KWD", "CHF"])
def test_iso_4217_codes_pass(code):
    money.validate_currency(code)


@pytest.mark.parametrize("code", ["", "EU", "EURO", "eur", "E1R", "XXX", "XAU", "ABC", 978])
def test_other_currency_codes_fail(code):
    with pytest.raises(ValidationError):
        money.validate_currency(code)


def test_service_normalizes_case_and_refuses_unknown_currency(customer):
    order = make_order(customer, currency="eur")
    assert order.currency == "EUR"
    with pytest.raises(ValidationFailed) as caught:
        order_create(actor=customer, title="x", currency="ABC", items=[item()])
    assert caught.value.code == "invalid_currency"
    assert "currency" in caught.value.extra["fields"]


def test_changing_currency_rechecks_and_rerounds_existing_lines(customer):
    order = make_order(customer, items=[item("1", "10.50")], currency="EUR")
    with pytest.raises(ValidationFailed):
        order_update(actor=customer, order=order, currency="JPY")  # 10.50 JPY does not exist
    order = make_order(customer, items=[item("1.5", "3")], currency="EUR")
    order = order_update(actor=customer, order=order, currency="JPY")
    assert order.total == Decimal("5")  # 4.5 → 5 yen
    assert Order.objects.get(pk=order.pk).total == Decimal("5")


def test_formatting_on_the_wire():
    assert money.format_amount(Decimal("12.5"), "EUR") == "12.50"
    assert money.format_amount(Decimal("1250.000"), "JPY") == "1250"
    assert money.format_amount(Decimal("1.2"), "KWD") == "1.200"
    assert money.format_quantity(Decimal("2.000")) == "2"
    assert money.format_quantity(Decimal("100.000")) == "100"
    assert money.format_quantity(Decimal("1.500")) == "1.5"
