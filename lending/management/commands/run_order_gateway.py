"""Run the order gateway (lending/orders/gateway.py): the FIX session to the broker (the FIX_*
settings), sending placed orders and cancels, storing every execution report for the Celery
task that books it. One gateway per desk; Ctrl-C or SIGTERM logs the session out."""

import signal
import threading

from django.core.management.base import BaseCommand

from lending.orders.fix_session import FixSettings
from lending.orders.gateway import OrderGateway


class Command(BaseCommand):
    help = "Run the order gateway: the FIX 4.4 session to the broker (FIX_* settings)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=0.2,
            help="how often orders waiting to be sent are looked for",
        )

    def handle(self, *args, poll_seconds: float, **options):
        settings = FixSettings.from_django()
        gateway = OrderGateway(settings, poll_seconds=poll_seconds)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: gateway.stopping.set())
        gateway.start()
        self.stdout.write(
            f"order gateway {settings.sender_comp_id} -> {settings.target_comp_id} at "
            f"{settings.host}:{settings.port}"
        )
        runner = threading.Thread(target=gateway.run, name="order-gateway", daemon=True)
        runner.start()
        while runner.is_alive():
            runner.join(0.5)
        gateway.stop()
        self.stdout.write(f"order gateway stopped: {gateway.sent} sent, {gateway.reports} reports")
