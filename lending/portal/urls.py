"""Routes of lending's portal area (mounted by lending/urls.py)."""

from django.urls import path

from lending.portal import api, views

portal_urlpatterns: list = [
    path("lending/account/", views.AccountView.as_view(), name="lending-account"),
    path("lending/history/", views.HistoryView.as_view(), name="lending-history"),
    path("simulator/", views.LeverageSimulatorView.as_view(), name="lending-simulator"),
    path(
        "lending/shorts/positions/",
        views.ShortPositionsView.as_view(),
        name="lending-short-positions",
    ),
]
staff_urlpatterns: list = []
api_urlpatterns: list = [
    path(
        "credit-accounts/",
        api.CreditAccountListApi.as_view(),
        name="lending-credit-account-list",
    ),
    path(
        "credit-accounts/<int:pk>/",
        api.CreditAccountDetailApi.as_view(),
        name="lending-credit-account-detail",
    ),
    path(
        "credit-accounts/<int:pk>/history/",
        api.CreditAccountHistoryApi.as_view(),
        name="lending-credit-account-history",
    ),
    path(
        "credit-accounts/<int:pk>/short-positions/",
        api.ShortPositionsApi.as_view(),
        name="lending-short-positions",
    ),
    path(
        "credit-accounts/<int:pk>/short-returns/",
        api.ShortReturnApi.as_view(),
        name="lending-short-return",
    ),
    path(
        "simulator/leverage/",
        api.LeverageSimulatorApi.as_view(),
        name="lending-simulator-leverage",
    ),
]
