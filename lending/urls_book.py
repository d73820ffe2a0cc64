"""Routes for the book area of lending (see lending/urls.py)."""

from django.urls import path

from . import api_book, views_book

portal_urlpatterns: list = [
    path("lending/account/", views_book.AccountView.as_view(), name="lending-account"),
]
staff_urlpatterns: list = [
    path(
        "lending/instruments/",
        views_book.InstrumentListView.as_view(),
        name="lending-instrument-list",
    ),
    path(
        "lending/instruments/<int:pk>/",
        views_book.InstrumentEditView.as_view(),
        name="lending-instrument-edit",
    ),
    path(
        "lending/prices/upload/", views_book.PriceUploadView.as_view(), name="lending-price-upload"
    ),
]
api_urlpatterns: list = [
    path("instruments/", api_book.InstrumentListApi.as_view(), name="lending-instrument-list"),
    path("prices/", api_book.PricesApi.as_view(), name="lending-prices"),
    path(
        "credit-accounts/",
        api_book.CreditAccountListApi.as_view(),
        name="lending-credit-account-list",
    ),
    path(
        "credit-accounts/<int:pk>/",
        api_book.CreditAccountDetailApi.as_view(),
        name="lending-credit-account-detail",
    ),
    path(
        "credit-accounts/<int:pk>/drawdowns/",
        api_book.DrawdownApi.as_view(),
        name="lending-drawdown",
    ),
    path(
        "credit-accounts/<int:pk>/withdrawals/",
        api_book.WithdrawalApi.as_view(),
        name="lending-withdrawal",
    ),
]
