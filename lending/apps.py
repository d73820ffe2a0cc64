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

        # Liquidation rejects a cured call's prepared plans (margin_calls.CALL_CURED_HOOKS) and
        # follows its orders' execution reports (orders.ORDER_HOOKS): fills recorded on the
        # plan, the plan executed and the call closed when every line is filled.
        from .liquidation import services as liquidation
        from .orders import selectors as order_selectors
        from .orders import services as orders

        if liquidation.liquidation_order_applied not in orders.ORDER_HOOKS:
            orders.ORDER_HOOKS.append(liquidation.liquidation_order_applied)

        if order_selectors.held_back not in held_back.SOURCES:
            held_back.SOURCES.append(order_selectors.held_back)

        # A repayment that clears an overdue financing closes its maturity call at once.
        from .financing import services as financing_services
        from .margin_calls import maturity

        if maturity.maturity_on_repaid not in financing_services.REPAID_HOOKS:
            financing_services.REPAID_HOOKS.append(maturity.maturity_on_repaid)

        # A cover, buy-in or direct return that closes an overdue short position does the same.
        from .shorts import positions as short_positions

        if maturity.maturity_on_short_closed not in short_positions.CLOSED_HOOKS:
            short_positions.CLOSED_HOOKS.append(maturity.maturity_on_short_closed)

        # A rights issue's holders get notices (margin_calls writes notices) on its ex-date and
        # when its outcome is booked.
        from .financing import corporate_actions
        from .margin_calls import rights as rights_notices

        if rights_notices.rights_notices_write not in corporate_actions.NOTICE_HOOKS:
            corporate_actions.NOTICE_HOOKS.append(rights_notices.rights_notices_write)

        # A short position's extension needs the maintenance ratio above the warning line: the
        # account's valuation is financing's (above shorts).
        from .financing import short_sales
        from .shorts import maturity as short_maturity

        if short_sales.short_extension_blockers not in short_maturity.QUALIFICATION_HOOKS:
            short_maturity.QUALIFICATION_HOOKS.append(short_sales.short_extension_blockers)
