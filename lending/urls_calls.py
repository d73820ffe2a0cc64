"""Routes for the calls area of lending (see lending/urls.py)."""

from django.urls import path

from . import api_calls as api
from . import views_calls as views

portal_urlpatterns: list = [
    path("lending/margin-calls/", views.PortalCallsView.as_view(), name="lending-margin-calls"),
    path(
        "lending/margin-notices/<int:pk>/acknowledge/",
        views.PortalNoticeAcknowledgeView.as_view(),
        name="lending-notice-acknowledge",
    ),
]
staff_urlpatterns: list = [
    path("lending/margin-calls/", views.StaffCallsView.as_view(), name="lending-margin-calls"),
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
    path("margin-calls/", api.MarginCallListApi.as_view(), name="lending-margin-call-list"),
    path(
        "margin-calls/<int:pk>/",
        api.MarginCallDetailApi.as_view(),
        name="lending-margin-call-detail",
    ),
    path(
        "margin-calls/<int:pk>/liquidation-plans/",
        api.MarginCallPlanPrepareApi.as_view(),
        name="lending-margin-call-plan-prepare",
    ),
    path("margin-notices/", api.NoticeListApi.as_view(), name="lending-margin-notice-list"),
    path(
        "margin-notices/<int:pk>/acknowledge/",
        api.NoticeAcknowledgeApi.as_view(),
        name="lending-margin-notice-acknowledge",
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
]
