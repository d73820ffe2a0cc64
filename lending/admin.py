"""Lending's staff admin: each area registers its own classes in `<area>/admin.py`; Django
imports this module, which imports them all."""

from lending.credit import admin as credit  # noqa: F401
from lending.financing import admin as financing  # noqa: F401
from lending.instruments import admin as instruments  # noqa: F401
from lending.liquidation import admin as liquidation  # noqa: F401
from lending.margin_calls import admin as margin_calls  # noqa: F401
from lending.mtm import admin as mtm  # noqa: F401
from lending.orders import admin as orders  # noqa: F401
from lending.risk import admin as risk  # noqa: F401
from lending.shorts import admin as shorts  # noqa: F401
