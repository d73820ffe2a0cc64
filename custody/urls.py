"""This app's routes. config/urls.py mounts them: portal_urlpatterns under /portal/
(namespace "portal"), staff_urlpatterns under /staff/ ("staff"), api_urlpatterns under
/api/v1/ ("v1"). Namespaces are shared between apps, so prefix every name with the app."""

from django.urls import path

from . import api

portal_urlpatterns: list = []
staff_urlpatterns: list = []
api_urlpatterns: list = [
    path(
        "ledger/trial-balance/",
        api.TrialBalanceView.as_view(),
        name="custody-trial-balance",
    ),
]
