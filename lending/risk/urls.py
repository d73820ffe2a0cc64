"""Routes of lending's risk area (mounted by lending/urls.py)."""

from django.urls import path

from lending.risk import api, views

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path("lending/risk/", views.RiskRunsView.as_view(), name="lending-risk-runs"),
    path("lending/risk/compare/", views.RiskCompareView.as_view(), name="lending-risk-compare"),
    path(
        "lending/risk/<int:pk>/",
        views.RiskRunDetailView.as_view(),
        name="lending-risk-run-detail",
    ),
]
api_urlpatterns: list = [
    path("risk-runs/", api.RiskRunListApi.as_view(), name="lending-risk-run-list"),
    path("risk-runs/<int:pk>/", api.RiskRunDetailApi.as_view(), name="lending-risk-run-detail"),
    path(
        "risk-runs/<int:pk>/adopt-target/",
        api.RiskRunTargetAdoptApi.as_view(),
        name="lending-risk-run-adopt-target",
    ),
]
