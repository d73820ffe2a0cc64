"""Routes of lending's shorts area (mounted by lending/urls.py)."""

from django.urls import path

from lending.shorts import api, views

portal_urlpatterns: list = [
    path("lending/shorts/", views.ShortableView.as_view(), name="lending-shorts"),
    path(
        "lending/shorts/positions/<int:pk>/extend/",
        views.ShortExtensionRequestView.as_view(),
        name="lending-short-extension-request",
    ),
]
staff_urlpatterns: list = [
    path(
        "lending/shorts/inventory/",
        views.InventoryView.as_view(),
        name="lending-shorts-inventory",
    ),
    path(
        "lending/shorts/extensions/",
        views.ShortExtensionsView.as_view(),
        name="lending-shorts-extensions",
    ),
    path(
        "lending/shorts/extensions/<int:pk>/",
        views.ShortExtensionDetailView.as_view(),
        name="lending-shorts-extension",
    ),
]
api_urlpatterns: list = [
    path("shorts/inventory/", api.InventoryApi.as_view(), name="lending-shorts-inventory"),
    path(
        "shorts/extensions/",
        api.ShortExtensionListApi.as_view(),
        name="lending-shorts-extension-list",
    ),
    path(
        "shorts/positions/<int:pk>/extensions/",
        api.ShortPositionExtensionsApi.as_view(),
        name="lending-shorts-position-extensions",
    ),
    path(
        "shorts/extensions/<int:pk>/prepare/",
        api.ShortExtensionPrepareApi.as_view(),
        name="lending-shorts-extension-prepare",
    ),
    path(
        "shorts/extensions/<int:pk>/approve/",
        api.ShortExtensionApproveApi.as_view(),
        name="lending-shorts-extension-approve",
    ),
    path(
        "shorts/extensions/<int:pk>/reject/",
        api.ShortExtensionRejectApi.as_view(),
        name="lending-shorts-extension-reject",
    ),
]
