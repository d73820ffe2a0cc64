"""API shapes of a credit account's full view (valuation, lines, positions, withdrawable)."""

from decimal import Decimal

from rest_framework import serializers

from accounts.api_fields import quantity_field
from lending.common.api import decimal_text
from lending.financing.serializers import FinancingOutSerializer
from lending.portal.history import amount_text, price_text


def account_summary_data(account) -> dict:
    return {
        "id": account.pk,
        "account_number": account.account_number,
        "name": account.account_name,
    }


def account_view_data(view, *, state: str) -> dict:
    """The credit account as the API renders it (AccountView + the margin state)."""
    contract = view.contract
    lines = view.lines
    withdrawable_securities = {}
    from lending.domain import margin

    for p in view.positions:
        row = view.collateral_row(p.instrument)
        qty = (
            margin.withdrawable_quantity(view.margin_account, row, lines.withdrawal)
            if row
            else Decimal(0)
        )
        withdrawable_securities[p.instrument.ledger_unit] = decimal_text(
            qty.normalize() if qty else qty
        )
    return {
        "id": view.credit_account.pk,
        "account_number": view.credit_account.account_number,
        "name": view.credit_account.account_name,
        "contract": contract.contract_number if contract else None,
        "credit_limit": decimal_text(contract.credit_limit) if contract else None,
        "cash": decimal_text(view.cash, "0.01"),
        "financing_debt": decimal_text(view.financing_debt, "0.01"),
        "accrued_interest": decimal_text(view.accrued_interest, "0.01"),
        "positions": [
            {
                "instrument": p.instrument.ledger_unit,
                "name": p.instrument.name,
                "quantity": decimal_text(p.quantity.normalize()),
                "price": decimal_text(p.price),
                "price_at": p.price_at.isoformat() if p.price_at else None,
                "market_value": decimal_text(p.market_value, "0.01"),
                "haircut": decimal_text(p.haircut, "0.0001"),
                "financed_amount": decimal_text(p.financed_amount, "0.01"),
            }
            for p in view.positions
        ],
        "collateral_value": decimal_text(view.collateral_value, "0.01"),
        "total_assets": decimal_text(view.total_assets, "0.01"),
        "total_liabilities": decimal_text(view.total_liabilities, "0.01"),
        "maintenance_ratio": decimal_text(view.maintenance_ratio, "0.000001")
        if view.maintenance_ratio is not None
        else None,
        "state": state,
        "lines": {
            "warning": decimal_text(lines.warning),
            "call": decimal_text(lines.call),
            "target": decimal_text(lines.target),
            "withdrawal": decimal_text(lines.withdrawal),
        },
        "financing_margin_ratio": decimal_text(view.financing_margin_ratio),
        "available_margin": decimal_text(view.available_margin, "0.01"),
        "withdrawable": {
            "cash": decimal_text(view.withdrawable_cash, "0.01"),
            "securities": withdrawable_securities,
        },
    }


# --- response shapes, for the OpenAPI schema (the views render the *_data dicts above) ---------


class PositionOutSerializer(serializers.Serializer):
    instrument = serializers.CharField(help_text="Ledger unit, e.g. SSE:600519")
    name = serializers.CharField()
    quantity = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    price_at = serializers.DateTimeField(allow_null=True)
    market_value = serializers.CharField()
    haircut = serializers.CharField()
    financed_amount = serializers.CharField()


class LinesOutSerializer(serializers.Serializer):
    warning = serializers.CharField()
    call = serializers.CharField()
    target = serializers.CharField()
    withdrawal = serializers.CharField()


class WithdrawableOutSerializer(serializers.Serializer):
    cash = serializers.CharField()
    securities = serializers.DictField(child=serializers.CharField())


class CreditAccountSummaryOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_number = serializers.CharField()
    name = serializers.CharField()


class CreditAccountOutSerializer(CreditAccountSummaryOutSerializer):
    contract = serializers.CharField(allow_null=True)
    credit_limit = serializers.CharField(allow_null=True)
    cash = serializers.CharField()
    financing_debt = serializers.CharField()
    accrued_interest = serializers.CharField()
    positions = PositionOutSerializer(many=True)
    collateral_value = serializers.CharField()
    total_assets = serializers.CharField()
    total_liabilities = serializers.CharField()
    maintenance_ratio = serializers.CharField(allow_null=True, help_text="null: no debt")
    state = serializers.CharField()
    lines = LinesOutSerializer()
    financing_margin_ratio = serializers.CharField()
    available_margin = serializers.CharField()
    withdrawable = WithdrawableOutSerializer()
    financings = FinancingOutSerializer(many=True)


# --- the investor's history (lending.portal.history) -------------------------------------------


def history_row_data(row) -> dict:
    """One history row as the API renders it: amounts as exact decimal strings."""
    trade = row.trade
    return {
        "entry_id": row.entry_id,
        "business_date": row.business_date.isoformat(),
        "booked_at": row.booked_at.isoformat(),
        "kind": row.kind,
        "category": row.category,
        "description": row.description,
        "liquidation_plan": row.liquidation_plan_id,
        "trade": None
        if trade is None
        else {
            "exec_id": trade.exec_id,
            "order": trade.client_order_id,
            "side": trade.side,
            "purpose": trade.purpose,
            "instrument": trade.instrument,
            "instrument_name": trade.instrument_name,
            "quantity": amount_text(trade.quantity, money=False),
            "price": price_text(trade.price),
            "turnover": amount_text(trade.turnover),
            "commission": amount_text(trade.commission),
            "stamp_duty": amount_text(trade.stamp_duty),
            "transfer_fee": amount_text(trade.transfer_fee),
            "fees": amount_text(trade.fees),
            "executed_at": trade.executed_at.isoformat(),
        },
        "movements": [
            {
                "account": m.account,
                "unit": m.unit,
                "amount": amount_text(m.amount, money=m.is_money),
                "balance": amount_text(m.balance, money=m.is_money),
            }
            for m in row.movements
        ],
    }


class HistoryMovementOutSerializer(serializers.Serializer):
    account = serializers.ChoiceField(
        choices=["cash", "financing", "interest", "shares", "entitlement", "other"],
        help_text="Which balance moved: cash held for the investor, financing owed, interest "
        "owed, shares held (unit: the instrument), money receivable from a corporate action",
    )
    unit = serializers.CharField(help_text="CNY, or the instrument's ledger unit (SSE:600519)")
    amount = serializers.CharField(
        help_text="Change of that balance (decimal string): + more cash, debt or shares; the "
        "sum of the entry's ledger postings on the account, turned to its normal side"
    )
    balance = serializers.CharField(help_text="The balance after this entry (decimal string)")


class HistoryTradeOutSerializer(serializers.Serializer):
    exec_id = serializers.CharField(help_text="The market's execution id")
    order = serializers.CharField(help_text="Client order id")
    side = serializers.CharField()
    purpose = serializers.CharField()
    instrument = serializers.CharField()
    instrument_name = serializers.CharField()
    quantity = serializers.CharField()
    price = serializers.CharField(help_text="The fill price (decimal string)")
    turnover = serializers.CharField()
    commission = serializers.CharField()
    stamp_duty = serializers.CharField()
    transfer_fee = serializers.CharField()
    fees = serializers.CharField(help_text="commission + stamp duty + transfer fee")
    executed_at = serializers.DateTimeField()


class HistoryRowOutSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField(help_text="The journal entry of the custody ledger")
    business_date = serializers.DateField(help_text="The day the entry counts for")
    booked_at = serializers.DateTimeField(help_text="When the ledger booked it (Asia/Shanghai)")
    kind = serializers.CharField(help_text="The journal entry's kind")
    category = serializers.CharField(
        help_text="What happened: deposit, withdrawal, buy, financed_buy, sale, sale_to_repay, "
        "liquidation_sale, repayment, sale_repayment, liquidation_repayment, interest, "
        "interest_collected, penalty_interest, transfer_in, transfer_out, corporate_action, "
        "rights, default_covered, reversal, other"
    )
    description = serializers.CharField(help_text="In words, in the request's language")
    liquidation_plan = serializers.IntegerField(allow_null=True)
    trade = HistoryTradeOutSerializer(allow_null=True)
    movements = HistoryMovementOutSerializer(many=True)


class HistoryPageOutSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryRowOutSerializer(many=True)


# --- the short side (融券): lending.portal.api.ShortPositionsApi and ShortReturnApi ------------


def short_position_data(p) -> dict:
    return {
        "id": p.pk,
        "opened_on": p.opened_on,
        "quantity": decimal_text(p.quantity.normalize()),
        "price": price_text(p.price),
        "amount": decimal_text(p.amount, "0.01"),
        "quantity_outstanding": decimal_text(p.quantity_outstanding, "1"),
        "amount_outstanding": decimal_text(p.amount_outstanding, "0.01"),
        "fee_rate": decimal_text(p.fee_rate.normalize()),
        "fee_accrued": decimal_text(p.fee_accrued, "0.01"),
        "fee_paid": decimal_text(p.fee_paid, "0.01"),
        "fee_accrued_through": p.fee_accrued_through,
        "due_on": p.due_on,
        "overdue_since": p.overdue_since,
    }


def short_book_data(book) -> dict:
    """The account's short side (lending.portal.selectors.short_book) as the API renders it."""
    view = book.view
    return {
        "credit_account": view.credit_account.pk,
        "account_number": view.credit_account.account_number,
        "short_proceeds": decimal_text(view.short_proceeds, "0.01"),
        "lending_fees_owed": decimal_text(view.lending_fees_owed, "0.01"),
        "short_margin_ratio": decimal_text(book.short_margin_ratio),
        "short_sale_amount": decimal_text(view.short_sale_amount, "0.01"),
        "short_market_value": decimal_text(view.short_market_value, "0.01"),
        "instruments": [
            {
                "instrument": row.instrument.ledger_unit,
                "name": row.instrument.name,
                "quantity": decimal_text(row.short.quantity, "1"),
                "sale_price": price_text(row.sale_price) if row.sale_price is not None else None,
                "short_sale_amount": decimal_text(row.short.short_sale_amount, "0.01"),
                "price": price_text(row.short.price) if row.short.price else None,
                "price_at": row.short.price_at.isoformat() if row.short.price_at else None,
                "market_value": decimal_text(row.short.market_value, "0.01"),
                "profit": decimal_text(row.short.profit, "0.01"),
                "due_on": row.due_on,
                "fees_accrued": decimal_text(row.fees_accrued, "0.01"),
                "positions": [short_position_data(p) for p in row.positions],
            }
            for row in book.rows
        ],
    }


class ShortPositionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    opened_on = serializers.DateField()
    quantity = serializers.CharField(help_text="Shares sold")
    price = serializers.CharField(help_text="Sale price")
    amount = serializers.CharField(help_text="Short-sale amount")
    quantity_outstanding = serializers.CharField(help_text="Shares still owed")
    amount_outstanding = serializers.CharField(help_text="Short-sale amount of the shares owed")
    fee_rate = serializers.CharField(help_text="Annual lending fee rate (a fraction)")
    fee_accrued = serializers.CharField(help_text="Lending fees accrued, not paid")
    fee_paid = serializers.CharField()
    fee_accrued_through = serializers.DateField(allow_null=True)
    due_on = serializers.DateField()
    overdue_since = serializers.DateField(allow_null=True)


class ShortInstrumentOutSerializer(serializers.Serializer):
    instrument = serializers.CharField(help_text="Ledger unit, e.g. SSE:600519")
    name = serializers.CharField()
    quantity = serializers.CharField(help_text="Shares owed")
    sale_price = serializers.CharField(
        allow_null=True, help_text="Average sale price of the shares owed"
    )
    short_sale_amount = serializers.CharField(help_text="Short-sale amount owed")
    price = serializers.CharField(allow_null=True, help_text="Latest price")
    price_at = serializers.DateTimeField(allow_null=True)
    market_value = serializers.CharField(help_text="Shares owed x latest price")
    profit = serializers.CharField(help_text="Short-sale amount owed - market value")
    due_on = serializers.DateField(allow_null=True, help_text="Earliest due date")
    fees_accrued = serializers.CharField()
    positions = ShortPositionOutSerializer(many=True)


class ShortBookOutSerializer(serializers.Serializer):
    credit_account = serializers.IntegerField()
    account_number = serializers.CharField()
    short_proceeds = serializers.CharField(help_text="Restricted short-sale proceeds")
    lending_fees_owed = serializers.CharField(
        help_text="Lending fees, compensation and buy-in shortfalls owed"
    )
    short_margin_ratio = serializers.CharField(help_text="In force today (a fraction)")
    short_sale_amount = serializers.CharField()
    short_market_value = serializers.CharField()
    instruments = ShortInstrumentOutSerializer(many=True)


class ShortReturnInSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=24, help_text="e.g. SSE:600519")
    quantity = quantity_field(help_text="Whole shares the investor holds, returned directly")
    reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="Staff: the investor's written instruction (required)",
    )


class ShortReturnOutSerializer(serializers.Serializer):
    entry = serializers.IntegerField(help_text="The ledger entry of the return")
    instrument = serializers.CharField()
    quantity = serializers.CharField()
    proceeds_released = serializers.CharField(help_text="Restricted proceeds released to cash")
    fees_paid = serializers.CharField(help_text="Lending fees paid from cash")
    short_positions = ShortBookOutSerializer()
