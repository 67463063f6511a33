from decimal import Decimal

from django import template
from django.utils.formats import number_format

from orders.money import minor_units, round_money

register = template.Library()


@register.filter
def money(amount: Decimal, currency: str) -> str:
    """``{{ order.total|money:order.currency }}`` → "1,012.50" in English, "1 012,50" in
    Russian: the currency's minor units, the active language's separators."""
    return number_format(
        round_money(amount, currency), decimal_pos=minor_units(currency), force_grouping=True
    )


@register.filter
def quantity(value: Decimal) -> str:
    """``2.000`` → "2", ``1.500`` → "1.5" (or "1,5")."""
    value = value.normalize()
    decimals = max(0, -value.as_tuple().exponent)
    return number_format(value, decimal_pos=decimals)
