"""Routes of lending's shorts area (mounted by lending/urls.py)."""

from django.urls import path

from lending.shorts import api, views

portal_urlpatterns: list = [
    path("lending/shorts/", views.ShortableView.as_view(), name="lending-shorts"),
]
staff_urlpatterns: list = [
    path(
        "lending/shorts/inventory/",
        views.InventoryView.as_view(),
        name="lending-shorts-inventory",
    ),
]
api_urlpatterns: list = [
    path("shorts/inventory/", api.InventoryApi.as_view(), name="lending-shorts-inventory"),
]
