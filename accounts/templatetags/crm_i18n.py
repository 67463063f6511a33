"""``{% js_catalog %}``: the browser scripts' translations, embedded in the page as JSON (no
extra request, nothing executable inline); ``static/crm/i18n.js`` reads it."""

from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.html import json_script

from crm.i18n import js_catalog_for

register = template.Library()


@register.simple_tag
def js_catalog() -> str:
    return json_script(js_catalog_for(translation.get_language()), "crm-i18n")
