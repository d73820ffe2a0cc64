"""Routes of lending's credit area (mounted by lending/urls.py)."""

from django.urls import path

from lending.credit import api, views

portal_urlpatterns: list = [
    path(
        "lending/applications/",
        views.ApplicationListView.as_view(),
        name="lending-application-list",
    ),
    path(
        "lending/applications/<int:pk>/",
        views.ApplicationDetailView.as_view(),
        name="lending-application-detail",
    ),
    path(
        "lending/contracts/<int:pk>/renew/",
        views.ContractRenewView.as_view(),
        name="lending-contract-renew",
    ),
]
staff_urlpatterns: list = [
    path("lending/applications/", views.ReviewQueueView.as_view(), name="lending-review-queue"),
    path(
        "lending/applications/<int:pk>/",
        views.ReviewDetailView.as_view(),
        name="lending-review-detail",
    ),
    path("lending/held-deposits/", views.HeldDepositsView.as_view(), name="lending-held-deposits"),
]
api_urlpatterns: list = [
    path(
        "lending/applications/",
        api.ApplicationListApi.as_view(),
        name="lending-application-list",
    ),
    path(
        "lending/applications/<int:pk>/",
        api.ApplicationDetailApi.as_view(),
        name="lending-application-detail",
    ),
    path(
        "lending/applications/<int:pk>/prepare/",
        api.ApplicationPrepareApi.as_view(),
        name="lending-application-prepare",
    ),
    path(
        "lending/applications/<int:pk>/approve/",
        api.ApplicationApproveApi.as_view(),
        name="lending-application-approve",
    ),
    path(
        "lending/applications/<int:pk>/reject/",
        api.ApplicationRejectApi.as_view(),
        name="lending-application-reject",
    ),
    path("lending/contracts/", api.ContractListApi.as_view(), name="lending-contract-list"),
    path(
        "held-deposits/<int:pk>/decision/",
        api.HeldDepositDecisionApi.as_view(),
        name="lending-held-deposit-decision",
    ),
    path(
        "lending/contracts/<int:pk>/",
        api.ContractDetailApi.as_view(),
        name="lending-contract-detail",
    ),
    path(
        "lending/contracts/<int:pk>/renew/",
        api.ContractRenewApi.as_view(),
        name="lending-contract-renew",
    ),
]
