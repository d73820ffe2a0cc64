"""API shapes of a credit account's full view (valuation, lines, positions, withdrawable)."""

from decimal import Decimal

from rest_framework import serializers

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
