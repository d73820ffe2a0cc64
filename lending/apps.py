from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = _("Lending")

    def ready(self):
        # The tasks register the price-move hook (instruments.services.PRICE_HOOKS): every process
        # that ingests prices (web, API, workers) must enqueue the holders' revaluation, not
        # only the processes that happened to import the tasks.
        from . import tasks  # noqa: F401

        # Withdrawals (financing) leave alone what working orders hold back.
        from .financing import held_back

        # Liquidation rejects a cured call's prepared plans (margin_calls.CALL_CURED_HOOKS).
        from .liquidation import services  # noqa: F401
        from .orders import selectors as order_selectors

        if order_selectors.held_back not in held_back.SOURCES:
            held_back.SOURCES.append(order_selectors.held_back)
