"""Back office for orders. Every write goes through ``orders.services``, so the admin numbers,
totals, history, chat lines and events exactly like the API does."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.errors import DomainError
from crm.tenancy import TenantAdmin, TenantInline
from orders import services
from orders.models import Order, OrderEvent, OrderItem, OrderStatus, status_label
from orders.templatetags.money import money


def _editable(order: Order | None) -> bool:
    return order is None or order.status == OrderStatus.NEW


def _item_forms(formset: forms.BaseInlineFormSet) -> list[forms.Form]:
    return [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


def _item_rows(formset: forms.BaseInlineFormSet) -> list[dict]:
    return [
        {key: form.cleaned_data[key] for key in ("name", "quantity", "unit_price")}
        for form in _item_forms(formset)
    ]


class OrderItemFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        try:  # the service's rules (totals, minor units of the currency), shown on the form
            services.order_items_clean(_item_rows(self), currency=self.instance.currency)
        except DomainError as exc:
            per_line = exc.extra.get("fields", {}).get("items")
            if exc.code != "invalid_items" or not isinstance(per_line, list):
                raise forms.ValidationError(exc.detail) from None
            for form, problems in zip(_item_forms(self), per_line, strict=True):
                for field, messages in problems.items():
                    form.add_error(field, messages)


class OrderItemInline(TenantInline, admin.TabularInline):
    model = OrderItem
    formset = OrderItemFormSet
    fields = ["name", "quantity", "unit_price", "line_total"]
    readonly_fields = ["line_total"]
    extra = 0

    def get_extra(self, request, obj=None, **kwargs) -> int:
        return 1 if obj is None else 0

    @admin.display(description=_("Total"))
    def line_total(self, item: OrderItem) -> str:
        if item.pk is None:
            return "—"
        return money(item.total, item.order.currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    def has_add_permission(self, request, obj=None) -> bool:
        return _editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return _editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _editable(obj) and super().has_delete_permission(request, obj)


class OrderEventInline(TenantInline, admin.TabularInline):
    model = OrderEvent
    verbose_name = _("status change")
    verbose_name_plural = _("status history")
    fields = ["created_at", "from_status", "to_status", "actor", "comment"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _status_action(status: str) -> Callable:
    def action(modeladmin: OrderAdmin, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        modeladmin.status_change_selected(request, queryset, status)

    action.__name__ = f"mark_{status}"
    return admin.action(
        description=format_lazy(
            _("Mark selected orders {status}"), status=OrderStatus(status).label
        ),
        permissions=["change"],
    )(action)


@admin.register(Order)
class OrderAdmin(TenantAdmin):
    list_display = ["display_number", "title", "customer", "status", "total_display", "created_at"]
    list_display_links = ["display_number", "title"]
    list_select_related = ["customer"]
    list_filter = ["status", "currency", "created_at"]
    search_fields = ["title", "customer__email", "customer__name"]
    search_help_text = _("Order number (#1042), customer name or email, or title.")
    date_hierarchy = "created_at"
    autocomplete_fields = ["customer"]
    inlines = [OrderItemInline, OrderEventInline]
    actions = [
        _status_action(status)
        for status in (
            OrderStatus.CONFIRMED,
            OrderStatus.IN_PROGRESS,
            OrderStatus.SHIPPED,
            OrderStatus.DONE,
            OrderStatus.CANCELLED,
        )
    ]
    _add_fields = ["customer", "title", "description", "currency"]
    _info_fields = [
        "display_number",
        "status",
        "customer",
        "chat",
        "total_display",
        "created_by",
        "created_at",
        "updated_at",
    ]

    @admin.display(description=_("Number"), ordering="number")
    def display_number(self, order: Order) -> str:
        return order.display_number

    @admin.display(description=_("Total"), ordering="total")
    def total_display(self, order: Order) -> str:
        return f"{money(order.total, order.currency)} {order.currency}"

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else [OrderItemInline]  # no history before saving

    def get_fields(self, request, obj=None):
        if obj is None:
            return self._add_fields
        return [*self._info_fields, "title", "description", "currency"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return self._info_fields + ([] if _editable(obj) else ["title", "description", "currency"])

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_term.strip().removeprefix("#")
        if number.isdigit():
            results = results | queryset.filter(number=int(number))
        return results, may_have_duplicates

    # --- Writes through the services ------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # a rule the form could not check (e.g. a concurrent change)
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        """Nothing here: ``save_related`` saves the order and its items in one service call."""

    def save_related(self, request, form, formsets, change) -> None:
        items_formset = next(fs for fs in formsets if fs.model is OrderItem)
        data = form.cleaned_data
        if not change:
            order = services.order_create(
                actor=request.user,
                customer_id=data["customer"].pk,
                title=data["title"],
                description=data.get("description", ""),
                currency=data["currency"],
                items=_item_rows(items_formset),
            )
            form.instance.pk = order.pk
            form.instance.refresh_from_db()
        else:
            changes = {
                key: data[key]
                for key in ("title", "description", "currency")
                if key in form.changed_data
            }
            if items_formset.has_changed():
                changes["items"] = _item_rows(items_formset)
            if changes:
                services.order_update(actor=request.user, order=form.instance, **changes)
        for formset in formsets:  # read by the admin's change message; the service saved them
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj) -> None:
        services.order_delete(actor=request.user, order=obj)

    def delete_queryset(self, request, queryset) -> None:
        for order in queryset:
            services.order_delete(actor=request.user, order=order)

    def status_change_selected(
        self, request: HttpRequest, queryset: QuerySet[Order], status: str
    ) -> None:
        changed, refused = [], []
        for order in queryset.order_by("number"):
            try:
                services.order_status_change(actor=request.user, order=order, status=status)
            except DomainError as exc:
                refused.append(f"{order.display_number}: {exc.detail}")
            else:
                changed.append(order.display_number)
        if changed:
            self.message_user(
                request,
                _("Now %(status_label)s: %(join)s.")
                % {"status_label": status_label(status), "join": ", ".join(changed)},
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                gettext("Not changed — %(refused)s") % {"refused": " ".join(refused)},
                messages.WARNING,
            )
