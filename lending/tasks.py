"""The registry of lending's Celery tasks: each area keeps its thin tasks in `<area>/tasks.py`
(take ids or dates, call one service, which re-checks state under its locks, so a redelivered
task is harmless). Task names stay "lending.tasks.<name>" whatever the area, so the beat
schedule and queued messages survive a move; importing this module registers them all and the
price-move hook (lending.apps)."""

from lending.financing.tasks import *  # noqa: F403
from lending.margin_calls.tasks import *  # noqa: F403
from lending.mtm.tasks import *  # noqa: F403
from lending.orders.tasks import *  # noqa: F403
from lending.risk.tasks import *  # noqa: F403
