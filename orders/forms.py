"""Cabinet order forms: parsing only; orders.services validates and decides."""

from django import forms
from django.utils.translation import gettext_lazy as _

from orders.money import DEFAULT_CURRENCY


class OrderForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    description = forms.CharField(
        required=False, label=_("Description"), widget=forms.Textarea(attrs={"rows": 3})
    )
    currency = forms.CharField(max_length=3, initial=DEFAULT_CURRENCY, label=_("Currency"))


class ItemForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label=_("Item"))
    quantity = forms.CharField(required=False, initial="1", label=_("Quantity"))
    unit_price = forms.CharField(required=False, label=_("Unit price"))

    def item(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("name"):
            return None
        return {
            "name": data["name"],
            "quantity": data["quantity"] or "1",
            "unit_price": data["unit_price"] or "0",
        }


ItemFormSet = forms.formset_factory(ItemForm, extra=3, max_num=100)
