"""Cabinet order forms: parsing only; orders.services validates and decides."""

from django import forms

from orders.money import DEFAULT_CURRENCY


class OrderForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    currency = forms.CharField(max_length=3, initial=DEFAULT_CURRENCY)


class ItemForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    quantity = forms.CharField(required=False, initial="1")
    unit_price = forms.CharField(required=False, label="Unit price")

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
