"""This app's routes. config/urls.py mounts them: portal_urlpatterns under /portal/
(namespace "portal"), staff_urlpatterns under /staff/ ("staff"), api_urlpatterns under
/api/v1/ ("v1"). Namespaces are shared between apps, so prefix every name with the app."""

from django.urls import path

from . import api, views
from .eod import api as eod_api
from .eod import views as eod_views

portal_urlpatterns: list = [
    path(
        "statements/",
        views.PortalStatementListView.as_view(),
        name="reports-statements",
    ),
    path(
        "statements/<int:pk>/pdf/",
        views.PortalStatementDownloadView.as_view(),
        name="reports-statement-download",
    ),
]
staff_urlpatterns: list = [
    path("end-of-day/", eod_views.EndOfDayListView.as_view(), name="reports-eod"),
    path("end-of-day/<int:pk>/", eod_views.EndOfDayDetailView.as_view(), name="reports-eod-detail"),
    path("filings/", views.FilingListView.as_view(), name="reports-filings"),
    path("filings/<int:pk>/", views.FilingDetailView.as_view(), name="reports-filing-detail"),
    path(
        "filings/<int:pk>/download/<str:fmt>/",
        views.FilingDownloadView.as_view(),
        name="reports-filing-download",
    ),
    path("statements/", views.StaffStatementListView.as_view(), name="reports-statements"),
    path(
        "statements/runs/<int:pk>/",
        views.StaffStatementRunView.as_view(),
        name="reports-statement-run",
    ),
    path(
        "statements/<int:pk>/pdf/",
        views.StaffStatementDownloadView.as_view(),
        name="reports-statement-download",
    ),
]
api_urlpatterns: list = [
    path("end-of-day-runs/", eod_api.RunListView.as_view(), name="reports-eod-runs"),
    path("end-of-day-runs/<int:pk>/", eod_api.RunDetailView.as_view(), name="reports-eod-run"),
    path(
        "end-of-day-runs/<int:pk>/resume/",
        eod_api.RunResumeView.as_view(),
        name="reports-eod-run-resume",
    ),
    path("filing-kinds/", api.FilingKindListView.as_view(), name="reports-filing-kinds"),
    path("filings/", api.FilingListCreateView.as_view(), name="reports-filings"),
    path("filings/<int:pk>/", api.FilingDetailView.as_view(), name="reports-filing-detail"),
    path(
        "filings/<int:pk>/download/<str:fmt>/",
        api.FilingDownloadView.as_view(),
        name="reports-filing-download",
    ),
    path(
        "filings/<int:pk>/approve/", api.FilingApproveView.as_view(), name="reports-filing-approve"
    ),
    path("filings/<int:pk>/submit/", api.FilingSubmitView.as_view(), name="reports-filing-submit"),
    path(
        "filings/<int:pk>/regenerate/",
        api.FilingRegenerateView.as_view(),
        name="reports-filing-regenerate",
    ),
    path(
        "filings/<int:pk>/correct/", api.FilingCorrectView.as_view(), name="reports-filing-correct"
    ),
    path(
        "statement-runs/", api.StatementRunListCreateView.as_view(), name="reports-statement-runs"
    ),
    path(
        "statement-runs/<int:pk>/",
        api.StatementRunDetailView.as_view(),
        name="reports-statement-run-detail",
    ),
    path(
        "statement-runs/<int:pk>/retry-failed/",
        api.StatementRunRetryView.as_view(),
        name="reports-statement-run-retry",
    ),
]
