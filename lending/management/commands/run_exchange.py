"""Run the simulated exchange (lending/orders/exchange.py) on loopback for the demo: the FIX
session of the FIX_* settings with the comp ids reversed, prices from the database (the latest
price, the instrument's lot size and its day's band), every open order expired at the close.

The quickfix engine runs in this command's own process (lending/orders/engine.py); on Ctrl-C
or SIGTERM it logs the session out and leaves with `os._exit`, as the engines' child processes
do, rather than call quickfix's `stop()` or let Python tear quickfix's objects down."""

import logging
import os
import signal
import sys
import threading
from datetime import time
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from accounts.errors import NotFound
from lending.instruments import selectors as instrument_selectors
from lending.instruments.models import LatestPrice
from lending.orders.exchange import Quote
from lending.orders.fix_session import FixSettings

CLOSE = time(15, 0)

logger = logging.getLogger(__name__)


def database_quote(symbol: str) -> Quote | None:
    """The exchange's view of `symbol` ("SSE:600000" or a bare code): None when unknown,
    suspended or never priced. Runs on quickfix's thread, with its own connection."""
    close_old_connections()
    try:
        instrument = instrument_selectors.instrument_by_code(symbol)
    except NotFound:
        return None
    latest = LatestPrice.objects.filter(instrument=instrument).first()
    if instrument.suspended or latest is None:
        return None
    return Quote(
        last_price=latest.price,
        prev_close=latest.prev_close,
        lot_size=instrument.lot_size,
        band=instrument_selectors.instrument_band(instrument),
    )


class Command(BaseCommand):
    help = "Run the simulated FIX 4.4 exchange on loopback (prices from the database)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--match-seconds",
            type=float,
            default=5.0,
            help="how often resting orders are matched again against the latest prices",
        )

    def handle(self, *args, match_seconds: float, **options):
        from lending.orders.engine import Exchange

        desk = FixSettings.from_django()
        settings = FixSettings(
            host="127.0.0.1",
            port=desk.port,
            sender_comp_id=desk.sender_comp_id,
            target_comp_id=desk.target_comp_id,
            store_dir=Path(desk.store_dir) / "exchange",
            log_dir=Path(desk.log_dir) / "exchange",
        )
        exchange = Exchange(settings, database_quote)
        exchange.engine.start()
        self.stdout.write(
            f"simulated exchange {settings.target_comp_id} listening on port {settings.port}"
        )
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or the process manager
            signal.signal(signum, lambda *_: stopping.set())
        expired_on = None
        code = 0
        try:
            while not stopping.wait(match_seconds):
                now = timezone.localtime()
                try:
                    if now.time() >= CLOSE and expired_on != now.date():
                        expired_on = now.date()
                        self.stdout.write(f"close: {exchange.expire_all()} orders expired")
                    elif now.time() < CLOSE:
                        exchange.match()
                except Exception:
                    # a database hiccup must not stop the exchange: the next round tries again
                    logger.exception("exchange: matching round failed")
        except BaseException:
            logger.exception("exchange: stopped by an error")
            code = 1
        finally:
            exchange.engine.logout()
            self.stdout.flush()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
