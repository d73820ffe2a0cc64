"""Mounts every app's portal, staff and API routes (each app's urls.py lists its own)."""

from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import api as accounts_api
from accounts import views as accounts_views
from config.ops import health, metrics
from lending.portal import views as lending_portal
from reports import views_dashboard

APPS_WITH_ROUTES = ("custody", "compliance", "lending", "reports")


def _collect(attribute: str) -> list:
    patterns: list = []
    for app in APPS_WITH_ROUTES:
        patterns += getattr(import_module(f"{app}.urls"), attribute)
    return patterns


portal_patterns = [
    path("", lending_portal.PortalHomeView.as_view(), name="home"),
    *_collect("portal_urlpatterns"),
]
staff_patterns = [
    path("", views_dashboard.DashboardView.as_view(), name="home"),
    *_collect("staff_urlpatterns"),
]
api_v1 = [
    path("auth/tokens/", accounts_api.TokenListView.as_view(), name="auth-tokens"),
    path("auth/tokens/<int:pk>/", accounts_api.TokenDetailView.as_view(), name="auth-token"),
    path("me/", accounts_api.MeView.as_view(), name="me"),
    *_collect("api_urlpatterns"),
]

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("portal/", include((portal_patterns, "portal"))),
    path("staff/", include((staff_patterns, "staff"))),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script from its own URL (?script): no inline
    # script, so the docs run under the site's content security policy.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="api_docs/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("api/v1/", include((api_v1, "v1"))),
    # operations (docs/OPERATIONS.md): the load balancer's health check, Prometheus's scrape
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
]

# unknown /api/ URLs (a malformed id) answer {code, message, extra} like the rest of the API
handler404 = "accounts.api_errors.not_found"
