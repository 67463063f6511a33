from django.urls import path

from orders import views

urlpatterns = [
    path("orders/", views.order_list_view, name="cabinet-orders"),
    path("orders/new/", views.order_create_view, name="cabinet-order-new"),
    path("orders/<int:order_id>/", views.order_detail_view, name="cabinet-order-detail"),
    path("orders/<int:order_id>/cancel/", views.order_cancel_view, name="cabinet-order-cancel"),
]
