from django.urls import path

from orders import api

urlpatterns = [
    path("orders", api.OrderListApi.as_view(), name="order-list"),
    path("orders/<int:order_id>", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/status", api.OrderStatusApi.as_view(), name="order-status"),
]
