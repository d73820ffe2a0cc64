"""Routes of lending's orders area (mounted by lending/urls.py)."""

from django.urls import path

from lending.orders import api, views

portal_urlpatterns: list = [
    path("lending/orders/", views.PortalOrdersView.as_view(), name="lending-orders"),
    path(
        "lending/orders/<int:pk>/cancel/",
        views.PortalOrderCancelView.as_view(),
        name="lending-order-cancel",
    ),
]
staff_urlpatterns: list = [
    path("lending/orders/", views.StaffOrdersView.as_view(), name="lending-orders"),
    path(
        "lending/orders/<int:pk>/cancel/",
        views.StaffOrderCancelView.as_view(),
        name="lending-order-cancel",
    ),
]
api_urlpatterns: list = [
    path(
        "credit-accounts/<int:pk>/orders/",
        api.AccountOrdersApi.as_view(),
        name="lending-account-orders",
    ),
    path("orders/<int:pk>/", api.OrderApi.as_view(), name="lending-order"),
    path("orders/<int:pk>/cancel/", api.OrderCancelApi.as_view(), name="lending-order-cancel"),
]
