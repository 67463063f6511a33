"""Money rules for orders: ISO 4217 currencies, their minor units, and exact decimal arithmetic.

Amounts are ``Decimal`` end to end: parsed from strings (or JSON numbers through their text),
multiplied and summed as decimals, rounded half-up to the currency's minor unit, stored in
``numeric`` columns and sent as strings. A ``float`` is refused wherever an amount enters.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from orders import error_codes

# Column sizes. Every amount keeps to at most 15 significant digits, so it survives the embedded
# SQLite default too (which hands numerics back through a double); PostgreSQL stores them exactly.
QUANTITY_MAX_DIGITS, QUANTITY_PLACES = 10, 3  # up to 9 999 999.999
PRICE_MAX_DIGITS = 13  # up to 9 999 999 999.999
TOTAL_MAX_DIGITS = 15  # up to 999 999 999 999.999
MONEY_PLACES = 3  # the largest minor unit of a listed currency

MAX_QUANTITY = Decimal(10) ** (QUANTITY_MAX_DIGITS - QUANTITY_PLACES) - Decimal("0.001")
MIN_QUANTITY = Decimal("0.001")
MAX_UNIT_PRICE = Decimal(10) ** (PRICE_MAX_DIGITS - MONEY_PLACES) - Decimal("0.001")
MAX_TOTAL = Decimal(10) ** (TOTAL_MAX_DIGITS - MONEY_PLACES) - Decimal("0.001")

DEFAULT_CURRENCY = "USD"


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Circulating currencies of ISO 4217 (list one, 2025), without funds, precious metals, units of
# account and test codes: the ones an order can be priced in.
ISO_4217_CURRENCIES = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW ZWG
    """
)

# Minor units (digits after the point) where ISO 4217 says other than 2.
_MINOR_UNITS = {
    **dict.fromkeys(_codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"), 0),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
}

_CODE = re.compile(r"^[A-Z]{3}$")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def validate_currency(value: str) -> None:
    """An active ISO 4217 code in capitals, e.g. ``EUR`` (a model field validator)."""
    if not isinstance(value, str) or not _CODE.match(value):
        raise ValidationError(
            _("Enter a 3-letter ISO 4217 currency code in capitals, e.g. EUR."),
            code=error_codes.INVALID_CURRENCY,
        )
    if value not in ISO_4217_CURRENCIES:
        raise ValidationError(
            _("%(value)s is not a circulating ISO 4217 currency.") % {"value": value},
            code=error_codes.INVALID_CURRENCY,
        )


def to_decimal(value: Decimal | int | str) -> Decimal:
    """An exact decimal from a ``Decimal``, an ``int`` or a numeric string; never a float."""
    if isinstance(value, (bool, float)):
        raise TypeError("Amounts are Decimal, int or str, never float or bool.")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number.") from None
    else:
        raise TypeError(f"Cannot read an amount from {type(value).__name__}.")
    if not number.is_finite():
        raise ValueError("Amounts must be finite numbers.")
    return number


def places_of(value: Decimal) -> int:
    """Digits after the point, ignoring trailing zeros: ``Decimal("1.50")`` → 1."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers only
    return max(0, -exponent)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: 2.675 USD → 2.68, 1.5 JPY → 2."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def line_total(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    return round_money(quantity * unit_price, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """The wire form of an amount: a string with exactly the currency's minor units."""
    return str(round_money(amount, currency))


def format_quantity(quantity: Decimal) -> str:
    """``2.000`` → ``"2"``, ``1.500`` → ``"1.5"``; never exponent notation."""
    return format(quantity.normalize(), "f")
