"""Lending's models, re-exported where Django looks for them: each area keeps its tables in
`lending/<area>/models.py`; import them from here or from the area."""

from lending.credit.models import *  # noqa: F403
from lending.financing.models import *  # noqa: F403
from lending.instruments.models import *  # noqa: F403
from lending.liquidation.models import *  # noqa: F403
from lending.margin_calls.models import *  # noqa: F403
from lending.mtm.models import *  # noqa: F403
from lending.orders.models import *  # noqa: F403
from lending.risk.models import *  # noqa: F403
from lending.shorts.models import *  # noqa: F403
