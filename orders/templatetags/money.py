from decimal import Decimal

from django import template

from orders.money import format_amount

register = template.Library()


@register.filter
def money(amount: Decimal, currency: str) -> str:
    """``{{ order.total|money:order.currency }}`` → "12.50" (the currency's minor units)."""
    return format_amount(amount, currency)
