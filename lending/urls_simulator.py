"""Routes for the leverage simulator (portal page and API, both open without login)."""

from django.urls import path

from . import api_simulator, views_simulator

portal_urlpatterns: list = [
    path("simulator/", views_simulator.LeverageSimulatorView.as_view(), name="lending-simulator"),
]
staff_urlpatterns: list = []
api_urlpatterns: list = [
    path(
        "simulator/leverage/",
        api_simulator.LeverageSimulatorApi.as_view(),
        name="lending-simulator-leverage",
    ),
]
