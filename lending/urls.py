"""This app's routes. config/urls.py mounts them: portal_urlpatterns under /portal/
(namespace "portal"), staff_urlpatterns under /staff/ ("staff"), api_urlpatterns under
/api/v1/ ("v1"). Namespaces are shared between apps, so prefix every name with the app.
Each area of lending keeps its routes in its own `<area>/urls.py`."""

from lending.credit import urls as credit
from lending.financing import urls as financing
from lending.instruments import urls as instruments
from lending.liquidation import urls as liquidation
from lending.margin_calls import urls as margin_calls
from lending.mtm import urls as mtm
from lending.orders import urls as orders
from lending.portal import urls as portal
from lending.risk import urls as risk
from lending.shorts import urls as shorts

_AREAS = (
    credit,
    portal,
    instruments,
    orders,
    financing,
    shorts,
    margin_calls,
    liquidation,
    risk,
    mtm,
)

portal_urlpatterns: list = [p for area in _AREAS for p in area.portal_urlpatterns]
staff_urlpatterns: list = [p for area in _AREAS for p in area.staff_urlpatterns]
api_urlpatterns: list = [p for area in _AREAS for p in area.api_urlpatterns]
