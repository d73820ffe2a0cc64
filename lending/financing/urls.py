"""Routes of lending's financing area (mounted by lending/urls.py)."""

from django.urls import path

from lending.financing import api, views

portal_urlpatterns: list = [
    path(
        "lending/financings/extension/",
        views.FinancingExtensionRequestView.as_view(),
        name="lending-financing-extension-request",
    ),
    path(
        "lending/rights/subscribe/",
        views.RightsSubscribeView.as_view(),
        name="lending-rights-subscribe",
    ),
    path("lending/rights/cancel/", views.RightsCancelView.as_view(), name="lending-rights-cancel"),
]
staff_urlpatterns: list = [
    path("lending/bank-credits/", views.BankCreditsView.as_view(), name="lending-bank-credits"),
    path(
        "lending/collateral-transfers/",
        views.CollateralTransfersView.as_view(),
        name="lending-collateral-transfers",
    ),
    path(
        "lending/corporate-actions/",
        views.CorporateActionsView.as_view(),
        name="lending-corporate-actions",
    ),
    path(
        "lending/corporate-actions/<int:pk>/",
        views.CorporateActionDetailView.as_view(),
        name="lending-corporate-action",
    ),
    path(
        "lending/repayments/",
        views.RepaymentInstructionView.as_view(),
        name="lending-repayment-instruction",
    ),
    path("lending/maturities/", views.MaturitiesView.as_view(), name="lending-maturities"),
]
api_urlpatterns: list = [
    path("bank-credits/", api.BankCreditsApi.as_view(), name="lending-bank-credits"),
    path(
        "bank-credits/<int:pk>/return/",
        api.BankCreditReturnApi.as_view(),
        name="lending-bank-credit-return",
    ),
    path(
        "collateral-transfers/",
        api.CollateralTransfersApi.as_view(),
        name="lending-collateral-transfers",
    ),
    path(
        "collateral-transfers/<int:pk>/decision/",
        api.CollateralTransferDecisionApi.as_view(),
        name="lending-collateral-transfer-decision",
    ),
    path(
        "corporate-actions/",
        api.CorporateActionsApi.as_view(),
        name="lending-corporate-actions",
    ),
    path(
        "corporate-actions/import/",
        api.CorporateActionsImportApi.as_view(),
        name="lending-corporate-actions-import",
    ),
    path(
        "corporate-actions/<int:pk>/",
        api.CorporateActionApi.as_view(),
        name="lending-corporate-action",
    ),
    path(
        "corporate-actions/<int:pk>/settlement/",
        api.CorporateActionSettlementApi.as_view(),
        name="lending-corporate-action-settlement",
    ),
    path(
        "rights-subscriptions/",
        api.RightsSubscriptionsApi.as_view(),
        name="lending-rights-subscriptions",
    ),
    path(
        "rights-subscriptions/<int:pk>/cancel/",
        api.RightsSubscriptionCancelApi.as_view(),
        name="lending-rights-subscription-cancel",
    ),
    path(
        "credit-accounts/<int:pk>/repayments/",
        api.RepaymentApi.as_view(),
        name="lending-repayment",
    ),
    path(
        "credit-accounts/<int:pk>/withdrawals/",
        api.WithdrawalApi.as_view(),
        name="lending-withdrawal",
    ),
    path(
        "financings/<int:pk>/extensions/",
        api.FinancingExtensionsApi.as_view(),
        name="lending-financing-extensions",
    ),
    path(
        "financing-extensions/",
        api.FinancingExtensionListApi.as_view(),
        name="lending-financing-extension-list",
    ),
    path(
        "financing-extensions/<int:pk>/prepare/",
        api.FinancingExtensionPrepareApi.as_view(),
        name="lending-financing-extension-prepare",
    ),
    path(
        "financing-extensions/<int:pk>/decision/",
        api.FinancingExtensionDecisionApi.as_view(),
        name="lending-financing-extension-decision",
    ),
]
