"""Routes of lending's instruments area (mounted by lending/urls.py)."""

from django.urls import path

from lending.instruments import api, views

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path(
        "lending/instruments/",
        views.InstrumentListView.as_view(),
        name="lending-instrument-list",
    ),
    path(
        "lending/instruments/<int:pk>/",
        views.InstrumentEditView.as_view(),
        name="lending-instrument-edit",
    ),
    path("lending/prices/upload/", views.PriceUploadView.as_view(), name="lending-price-upload"),
    path(
        "lending/exchange-lists/", views.ExchangeListView.as_view(), name="lending-exchange-lists"
    ),
    path(
        "lending/exchange-lists/<int:pk>/",
        views.ExchangeListDetailView.as_view(),
        name="lending-exchange-list-detail",
    ),
    path(
        "lending/exchange-lists/<int:pk>/file/",
        views.ExchangeListFileView.as_view(),
        name="lending-exchange-list-file",
    ),
]
api_urlpatterns: list = [
    path("instruments/", api.InstrumentListApi.as_view(), name="lending-instrument-list"),
    path(
        "instruments/<int:pk>/category/",
        api.InstrumentCategoryApi.as_view(),
        name="lending-instrument-category",
    ),
    path("prices/", api.PricesApi.as_view(), name="lending-prices"),
    path("exchange-lists/", api.ExchangeListApi.as_view(), name="lending-exchange-lists"),
]
