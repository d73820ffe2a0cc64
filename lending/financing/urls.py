"""Routes of lending's financing area (mounted by lending/urls.py)."""

from django.urls import path

from lending.financing import api, views

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path("lending/bank-credits/", views.BankCreditsView.as_view(), name="lending-bank-credits"),
    path(
        "lending/collateral-transfers/",
        views.CollateralTransfersView.as_view(),
        name="lending-collateral-transfers",
    ),
    path(
        "lending/repayments/",
        views.RepaymentInstructionView.as_view(),
        name="lending-repayment-instruction",
    ),
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
        "credit-accounts/<int:pk>/repayments/",
        api.RepaymentApi.as_view(),
        name="lending-repayment",
    ),
    path(
        "credit-accounts/<int:pk>/withdrawals/",
        api.WithdrawalApi.as_view(),
        name="lending-withdrawal",
    ),
]
