"""This app's routes. config/urls.py mounts them: portal_urlpatterns under /portal/
(namespace "portal"), staff_urlpatterns under /staff/ ("staff"), api_urlpatterns under
/api/v1/ ("v1"). Namespaces are shared between apps, so prefix every name with the app.
Each area of lending keeps its routes in its own urls_<area>.py."""

from . import urls_book, urls_calls, urls_credit, urls_mtm, urls_risk, urls_simulator

_AREAS = (urls_credit, urls_book, urls_calls, urls_simulator, urls_risk, urls_mtm)

portal_urlpatterns: list = [p for area in _AREAS for p in area.portal_urlpatterns]
staff_urlpatterns: list = [p for area in _AREAS for p in area.staff_urlpatterns]
api_urlpatterns: list = [p for area in _AREAS for p in area.api_urlpatterns]
