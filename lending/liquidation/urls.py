"""Routes of lending's liquidation area (mounted by lending/urls.py)."""

from django.urls import path

from lending.liquidation import api, views

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path(
        "lending/margin-calls/<int:pk>/",
        views.StaffCallDetailView.as_view(),
        name="lending-margin-call-detail",
    ),
    path(
        "lending/liquidations/",
        views.LiquidationQueueView.as_view(),
        name="lending-liquidation-queue",
    ),
    path(
        "lending/liquidations/<int:pk>/",
        views.LiquidationDetailView.as_view(),
        name="lending-liquidation-detail",
    ),
]
api_urlpatterns: list = [
    path(
        "margin-calls/<int:pk>/liquidation-plans/",
        api.MarginCallPlanPrepareApi.as_view(),
        name="lending-margin-call-plan-prepare",
    ),
    path(
        "liquidation-plans/",
        api.LiquidationPlanListApi.as_view(),
        name="lending-liquidation-plan-list",
    ),
    path(
        "liquidation-plans/<int:pk>/",
        api.LiquidationPlanDetailApi.as_view(),
        name="lending-liquidation-plan-detail",
    ),
    path(
        "liquidation-plans/<int:pk>/approve/",
        api.LiquidationPlanApproveApi.as_view(),
        name="lending-liquidation-plan-approve",
    ),
    path(
        "liquidation-plans/<int:pk>/reject/",
        api.LiquidationPlanRejectApi.as_view(),
        name="lending-liquidation-plan-reject",
    ),
    path(
        "liquidation-plans/<int:pk>/execute/",
        api.LiquidationPlanExecuteApi.as_view(),
        name="lending-liquidation-plan-execute",
    ),
    path(
        "liquidation-plans/<int:pk>/replan/",
        api.LiquidationPlanReplanApi.as_view(),
        name="lending-liquidation-plan-replan",
    ),
]
