"""Routes of lending's financing area (mounted by lending/urls.py)."""

from django.urls import path

from lending.financing import api

portal_urlpatterns: list = []
staff_urlpatterns: list = []
api_urlpatterns: list = [
    path(
        "credit-accounts/<int:pk>/withdrawals/",
        api.WithdrawalApi.as_view(),
        name="lending-withdrawal",
    ),
]
