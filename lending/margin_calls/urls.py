"""Routes of lending's margin calls area (mounted by lending/urls.py)."""

from django.urls import path

from lending.margin_calls import api, views

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
]
api_urlpatterns: list = [
    path("margin-calls/", api.MarginCallListApi.as_view(), name="lending-margin-call-list"),
    path(
        "margin-calls/<int:pk>/",
        api.MarginCallDetailApi.as_view(),
        name="lending-margin-call-detail",
    ),
    path("margin-notices/", api.NoticeListApi.as_view(), name="lending-margin-notice-list"),
    path(
        "margin-notices/<int:pk>/acknowledge/",
        api.NoticeAcknowledgeApi.as_view(),
        name="lending-margin-notice-acknowledge",
    ),
]
