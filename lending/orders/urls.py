"""Routes of lending's orders area (mounted by lending/urls.py)."""

from django.urls import path

from lending.orders import api

portal_urlpatterns: list = []
staff_urlpatterns: list = []
api_urlpatterns: list = [
    path(
        "credit-accounts/<int:pk>/orders/",
        api.AccountOrdersApi.as_view(),
        name="lending-account-orders",
    ),
    path("orders/<int:pk>/", api.OrderApi.as_view(), name="lending-order"),
    path("orders/<int:pk>/cancel/", api.OrderCancelApi.as_view(), name="lending-order-cancel"),
]
