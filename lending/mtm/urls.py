"""Routes of lending's mtm area (mounted by lending/urls.py)."""

from django.urls import path

from lending.mtm import api, views

portal_urlpatterns: list = []
staff_urlpatterns: list = [
    path("lending/mtm-runs/", views.MtmRunsView.as_view(), name="lending-mtm-runs"),
    path(
        "lending/mtm-runs/<int:pk>/figures.csv",
        views.MtmRunFiguresCsvView.as_view(),
        name="lending-mtm-run-figures",
    ),
]
api_urlpatterns: list = [
    path("mtm-runs/", api.MtmRunListApi.as_view(), name="lending-mtm-run-list"),
    path("mtm-runs/<int:pk>/", api.MtmRunDetailApi.as_view(), name="lending-mtm-run-detail"),
    path(
        "mtm-runs/<int:pk>/accounts/<int:account>/",
        api.MtmRunAccountApi.as_view(),
        name="lending-mtm-run-account",
    ),
]
