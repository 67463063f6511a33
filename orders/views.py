"""Cabinet pages for a customer's orders: list, create, detail with history, cancel."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.errors import DomainError
from orders import selectors, services
from orders.forms import ItemFormSet, OrderForm
from orders.models import OrderStatus


def customer_page(view):
    """Cabinet pages are for customers; staff work in the back office."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_staff:
            return redirect("/admin/orders/order/")
        return view(request, *args, **kwargs)

    return wrapper


@customer_page
def order_list_view(request: HttpRequest) -> HttpResponse:
    orders = selectors.order_list(viewer=request.user)
    page = Paginator(orders, 20).get_page(request.GET.get("page"))
    return render(request, "cabinet/orders/list.html", {"page": page, "nav": "orders"})


@customer_page
@require_http_methods(["GET", "POST"])
def order_create_view(request: HttpRequest) -> HttpResponse:
    form = OrderForm(request.POST or None)
    items = ItemFormSet(request.POST or None, prefix="items")
    status = 200
    if request.method == "POST":
        if form.is_valid() and items.is_valid():
            lines = [item for f in items if (item := f.item()) is not None]
            try:
                order = services.order_create(
                    actor=request.user,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    currency=form.cleaned_data["currency"],
                    items=lines,
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
                for name, errors in (exc.extra.get("fields") or {}).items():
                    for error in errors if isinstance(errors, list) else [errors]:
                        form.add_error(None, f"{name}: {error}")
            else:
                messages.success(
                    request, _("Order %(number)s placed.") % {"number": order.display_number}
                )
                return redirect("cabinet-order-detail", order_id=order.pk)
        status = 400
    return render(
        request,
        "cabinet/orders/new.html",
        {"form": form, "items": items, "nav": "orders"},
        status=status,
    )


@customer_page
def order_detail_view(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        order = selectors.order_detail(request.user, order_id)
    except DomainError:
        return render(request, "404.html", status=404)
    return render(
        request,
        "cabinet/orders/detail.html",
        {"order": order, "can_cancel": order.status == OrderStatus.NEW, "nav": "orders"},
    )


@customer_page
@require_POST
def order_cancel_view(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        order = selectors.order_for(request.user, order_id)
        services.order_status_change(
            actor=request.user,
            order=order,
            status=OrderStatus.CANCELLED,
            comment=request.POST.get("comment", ""),
        )
    except DomainError as exc:
        if exc.status_code == 404:
            return render(request, "404.html", status=404)
        messages.error(request, exc.detail)
    else:
        messages.success(
            request, _("Order %(number)s cancelled.") % {"number": order.display_number}
        )
    return redirect("cabinet-order-detail", order_id=order_id)
