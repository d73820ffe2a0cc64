"""Routes for the risk analytics (staff pages and API; see lending/urls.py)."""

from django.urls import path

from . import api_risk, views_risk

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path("lending/risk/", views_risk.RiskRunsView.as_view(), name="lending-risk-runs"),
    path(
        "lending/risk/compare/", views_risk.RiskCompareView.as_view(), name="lending-risk-compare"
    ),
    path(
        "lending/risk/<int:pk>/",
        views_risk.RiskRunDetailView.as_view(),
        name="lending-risk-run-detail",
    ),
]
api_urlpatterns: list = [
    path("risk-runs/", api_risk.RiskRunListApi.as_view(), name="lending-risk-run-list"),
    path(
        "risk-runs/<int:pk>/", api_risk.RiskRunDetailApi.as_view(), name="lending-risk-run-detail"
    ),
]
