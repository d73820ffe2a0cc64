"""This app's routes. config/urls.py mounts them: portal_urlpatterns under /portal/
(namespace "portal"), staff_urlpatterns under /staff/ ("staff"), api_urlpatterns under
/api/v1/ ("v1"). Namespaces are shared between apps, so prefix every name with the app."""

from django.urls import path

from . import api, views

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path("custody/treasury/", views.TreasuryView.as_view(), name="custody-treasury"),
    path(
        "custody/client-money-requirements/<int:pk>/",
        views.ClientMoneyRequirementView.as_view(),
        name="custody-client-money-requirement",
    ),
]
api_urlpatterns: list = [
    path(
        "ledger/trial-balance/",
        api.TrialBalanceView.as_view(),
        name="custody-trial-balance",
    ),
    path("custody/statements/", api.StatementImportApi.as_view(), name="custody-statements"),
    path(
        "custody/reconciliations/internal/",
        api.InternalReconciliationApi.as_view(),
        name="custody-reconciliation-internal",
    ),
    path(
        "custody/client-money-requirements/",
        api.ClientMoneyRequirementsApi.as_view(),
        name="custody-client-money-requirements",
    ),
    path(
        "custody/client-money-requirements/<int:pk>/",
        api.ClientMoneyRequirementApi.as_view(),
        name="custody-client-money-requirement",
    ),
    path(
        "custody/client-money-requirements/<int:pk>/lines/",
        api.ClientMoneyRequirementLinesApi.as_view(),
        name="custody-client-money-requirement-lines",
    ),
    path("custody/breaks/", api.BreaksApi.as_view(), name="custody-breaks"),
    path(
        "custody/breaks/<int:pk>/resolve/",
        api.BreakResolveApi.as_view(),
        name="custody-break-resolve",
    ),
    path(
        "custody/reserve-fund/contributions/",
        api.ReserveContributionApi.as_view(),
        name="custody-reserve-contribution",
    ),
    path("custody/house-capital/", api.HouseCapitalApi.as_view(), name="custody-house-capital"),
    path("custody/facilities/", api.FacilitiesApi.as_view(), name="custody-facilities"),
    path(
        "custody/facilities/<int:pk>/draw/",
        api.FacilityDrawApi.as_view(),
        name="custody-facility-draw",
    ),
    path(
        "custody/facilities/<int:pk>/repay/",
        api.FacilityRepayApi.as_view(),
        name="custody-facility-repay",
    ),
    path(
        "custody/facilities/<int:pk>/close/",
        api.FacilityCloseApi.as_view(),
        name="custody-facility-close",
    ),
]
