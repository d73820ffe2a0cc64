"""Reads of a whole credit account for the portal and the account API: the account with its
margin state and current contract in one statement for an investor (raw_reads), its state, and
who may read an account's history (lending.portal.history); the account's short side per
instrument with its positions (`short_book`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import NotFound, PermissionDenied
from lending.credit.models import ContractStatus, CreditAccount, CreditContract
from lending.credit.selectors import credit_account_for, credit_accounts_for
from lending.financing import raw_reads, valuation
from lending.margin_calls.models import AccountMarginState, state_label
from lending.portal.history import price_text
from lending.shorts import positions as short_positions
from lending.shorts.models import ShortPosition

_ACCOUNT_FIELDS = raw_reads.fields(CreditAccount)


_STATE_FIELDS = raw_reads.fields(AccountMarginState)


_STATE_FIELD = AccountMarginState._meta.get_field("credit_account")  # CreditAccount.margin_state


_OWN_ACCOUNT_SQL = (
    f"SELECT {raw_reads.columns(CreditAccount, 'a')}, "  # noqa: S608 (model columns; values bound)
    f"{raw_reads.columns(AccountMarginState, 'm')}, "
    f"{raw_reads.columns(CreditContract, 'c')} "
    "FROM lending_creditaccount a "
    "JOIN accounts_investorprofile p ON p.id = a.investor_id "
    "LEFT JOIN lending_accountmarginstate m ON m.credit_account_id = a.id "
    f"LEFT JOIN LATERAL ({valuation.current_contract_sql('a.id')}) c ON true "
    "WHERE p.user_id = %s AND a.id = %s"
)


def credit_account_and_contract_for(user, pk) -> tuple[CreditAccount, CreditContract | None]:
    """`credit_account_for(user, pk, with_investor=False)` and its current contract
    (valuation.current_contract), what the account API reads before `account_view`.

    For a signed-in user who is not staff (an investor: the API's traffic) one statement with
    the same rule as credit_accounts_for (the account's investor is the user's profile) and
    current_contract's order (`valuation.current_contract_sql`); its rows become the same
    instances (the margin state cached on the account, None when it has none) without the ORM
    compiling a query per request (lending.financing.raw_reads). Anyone else goes through
    credit_account_for and current_contract. Another user's account, or no account: NotFound.
    """
    if not getattr(user, "is_authenticated", False) or user.is_staff:
        account = credit_account_for(user, pk, with_investor=False)
        return account, valuation.current_contract(account)
    db, rows = raw_reads.fetch(
        CreditAccount, _OWN_ACCOUNT_SQL, [ContractStatus.ACTIVE, user.pk, pk]
    )
    if not rows:
        raise NotFound(_("credit account: not found"))
    row = rows[0]
    a, m = len(_ACCOUNT_FIELDS), len(_ACCOUNT_FIELDS) + len(_STATE_FIELDS)
    account = raw_reads.instance(CreditAccount, db, _ACCOUNT_FIELDS, row[:a])
    state = None
    if row[a] is not None:  # the margin state's id: the account has one
        state = raw_reads.instance(AccountMarginState, db, _STATE_FIELDS, row[a:m])
        _STATE_FIELD.set_cached_value(state, account)
    _STATE_FIELD.remote_field.set_cached_value(account, state)
    contract = None
    if row[m] is not None:  # the contract's id
        contract = raw_reads.instance(CreditContract, db, valuation.CONTRACT_FIELDS, row[m:])
    return account, contract


def margin_state(credit_account: CreditAccount) -> str:
    """The account's margin state from the calls area when it keeps one, else "normal".
    No query when the account came from credit_accounts_for (joined there)."""
    try:
        row = credit_account.margin_state
    except ObjectDoesNotExist:
        return "normal"
    return str(row.state or "normal")


def margin_state_label(credit_account: CreditAccount) -> str:
    """margin_state in the reader's language (the API keeps the code)."""
    return state_label(margin_state(credit_account))


#: Staff read an account's history with the credit account's view permission (credit_account_for)
#: and this one: the history shows the investor's ledger postings.
HISTORY_STAFF_PERM = "custody.view_journalentry"


def history_account_for(user, pk) -> CreditAccount:
    """The credit account whose history `user` may read: an investor's own (another's, or
    none: NotFound, as for the account itself); any for staff holding the credit account's
    view permission and HISTORY_STAFF_PERM (PermissionDenied without the second)."""
    account = credit_account_for(user, pk)
    staff = user.is_staff and getattr(user, "investor_profile", None) is None
    if staff and not user.has_perm(HISTORY_STAFF_PERM):
        raise PermissionDenied(
            _("history: reading an account's history needs the ledger's view permission"),
            extra={"permission": HISTORY_STAFF_PERM},
        )
    return account


def history_account_of(user, pk=None) -> CreditAccount | None:
    """The portal's history page: the investor's credit account `pk` (their own only), or,
    without one, the open account, else the latest one (a closed account keeps its history)."""
    accounts = credit_accounts_for(user)
    if pk not in (None, ""):
        try:
            return accounts.get(pk=int(pk))
        except (ValueError, TypeError, CreditAccount.DoesNotExist):
            raise NotFound(_("credit account: not found")) from None
    return accounts.filter(status="open").first() or accounts.order_by("-opened_at", "-pk").first()


# --- the short side (融券) ----------------------------------------------------------------------


@dataclass(frozen=True)
class ShortRow:
    """One instrument the account owes shares of: the valuation's ShortView (shares owed, last
    price, market value, short-sale amount owed, profit) with the open positions behind it."""

    short: valuation.ShortView
    positions: list[ShortPosition]

    @property
    def instrument(self):
        return self.short.instrument

    @property
    def sale_price(self) -> Decimal | None:
        """The average sale price of the shares owed (short-sale amount owed / shares owed)."""
        if not self.short.quantity:
            return None
        return (self.short.short_sale_amount / self.short.quantity).quantize(Decimal("0.0001"))

    @property
    def sale_price_text(self) -> str:
        return price_text(self.sale_price) if self.sale_price is not None else "—"

    @property
    def price_text(self) -> str:
        return price_text(self.short.price) if self.short.price else "—"

    @property
    def quantity_text(self) -> str:
        """The shares owed as plain digits (a link's query string)."""
        return f"{self.short.quantity:f}".partition(".")[0]

    @property
    def fees_accrued(self) -> Decimal:
        return sum((p.fee_accrued for p in self.positions), Decimal(0))

    @property
    def due_on(self) -> date | None:
        """The earliest due date of its positions."""
        return min((p.due_on for p in self.positions), default=None)


@dataclass(frozen=True)
class ShortBook:
    """The account's short side as the portal page and the API show it."""

    view: valuation.AccountView
    rows: list[ShortRow]
    short_margin_ratio: Decimal  # in force today for this investor

    @property
    def short_proceeds(self) -> Decimal:
        return self.view.short_proceeds

    @property
    def lending_fees_owed(self) -> Decimal:
        return self.view.lending_fees_owed


def short_book(credit_account: CreditAccount, view: valuation.AccountView | None = None):
    """The account's short positions per instrument (account_view's shorts, with the open
    positions from lending.shorts.positions.open_positions), the restricted proceeds, the
    lending fees owed and the short margin ratio in force."""
    view = view or valuation.account_view(credit_account)
    by_instrument: dict[int, list[ShortPosition]] = {}
    for position in short_positions.open_positions(credit_account):
        position.price_text = price_text(position.price)
        by_instrument.setdefault(position.instrument_id, []).append(position)
    rows = [ShortRow(s, by_instrument.get(s.instrument.pk, [])) for s in view.shorts]
    ratio = view.short_margin_ratio
    if ratio is None:
        ratio = valuation.short_margin_ratio_for(credit_account.investor, timezone.localdate())
    return ShortBook(view=view, rows=rows, short_margin_ratio=ratio)
