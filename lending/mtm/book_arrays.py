"""Bulk book loader: the whole book (or a slice of it) as lending.domain.margin.BookArrays.

`load_book(...) -> LoadedBook` reads the book set-based, a bounded number of statements
whatever the number of accounts (never one query per account):

1. accounts: open credit accounts with their investor, stored margin state and unfinished call
   (one joined statement), and the lines of their active contracts, one row per distinct set of
   lines with its accounts;
2. ledger balances: their mark-to-market mirror (lending.models.RiskBalance, kept by the ledger's
   triggers: client money, financing receivable, interest receivable and dividend entitlements
   receivable (other collateral) in CNY; client securities with their instrument id) by one
   range scan of the investors' index, no join;
3. open financings aggregated per (credit account, instrument);
4. instruments with their latest prices (small table, read whole);
5. the short side (below): its balances come with the others from the mirror (kinds 5-7);
   only when some account owes shares, the open short positions summed per (account,
   instrument), and when some account has a short row or restricted proceeds, those
   investors' types and the short margin ratios in force.

Bulk numeric reads return one row of PostgreSQL arrays in binary (lending.mtm.pg_arrays.columns),
read by numpy as typed columns: no Python object per row, nothing parsed from text, and (unlike
COPY, which psycopg hands over one row at a time) one message per column.

The figures reproduce lending.financing.valuation.account_view (``as_of=None``) exactly in
structure:
a holding bought partly with financing is two rows, a financed row (quantity still held from
open financings, capped at the holding, and their outstanding principal as ``financed``) and an
own (collateral) row for the rest; an instrument with financing outstanding but nothing held is
a financed row of quantity 0; a negative custody balance gives no row;
the short side (融券, lending.shorts) as account_view reads it: the shares an account owes
(its ``short_securities`` ledger balance per instrument, when positive) are a short row of
negative quantity at the latest price (not discounted while suspended: account_view marks a
short at its last price), with the haircut in force and as ``short_sale`` the open short
positions' ``amount_outstanding`` summed per (account, instrument) (0 without any); the
restricted proceeds (``short_proceeds``, CNY, floored at 0) are the account's
``short_proceeds``; the lending fees, compensation and buy-in shortfalls owed
(``lending_fee_receivable``, CNY) are added to ``interest_fees``; the mirror holds these
purposes (migration 0031) and they are read with the other balances.
``LoadedBook.short_margin_ratio`` is the dated ratio in force on ``on`` for each account with a
short row or restricted proceeds (a private securities investment fund's own: account_view's
short_margin_ratio_for), 0 for the others (it multiplies no short row), so
``margin.available_margin_many(book, fmr, short_margin_ratio=...)`` is account_view's
available margin for every account;
the price of a long row is the latest price (0 when none; a suspended security's less the
dated discount of valuation.suspended_discount); the haircut is the one in force on ``on``: the
lowest of the desk's effective one (0 off the eligible list and while ST / suspended /
delisting), the exchange's conversion rate in force (lending.instruments.exchange_lists) and
the category's dated cap. Ratios agree with account_view's Decimal maintenance ratio within
float64 rounding (tested at 1e-9 relative).

Lines are those of the account's *active* contract, as lending.margin_calls.services.lines_for
uses them to decide a state; an account without one has the lines and the financing margin
ratio of the dated parameter table in force on ``on`` (today by default), read once per load
through lending.credit.selectors, and only when the load has such an account (a missing
parameter raises).

Selecting accounts: ``credit_account_ids`` (explicit pks), ``id_range`` ((lo, hi): pks
lo ≤ pk < hi, how mark-to-market shards slice the book) and ``instrument_ids`` (the accounts
that hold, in custody or financed, or owe short any of those instruments: an incremental
revaluation after a price move) combine with AND. Every loaded account is complete: all its
rows, not only the rows of ``instrument_ids``. Without any selector: every open credit account.
``price_override`` replaces the latest price of some instruments (stress tests, what-ifs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from accounts.models import InvestorType
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.credit import selectors as credit_selectors
from lending.domain import margin
from lending.instruments import exchange_lists
from lending.instruments import selectors as instruments_selectors
from lending.mtm import pg_arrays
from lending.mtm.models import RiskBalanceKind

#: State codes of ``LoadedBook.stored_state`` (the stored AccountMarginState.state).
STORED_STATES = ("normal", "warning", "call", "overdue", "liquidation", "default")


STORED_STATE_CODE = {name: code for code, name in enumerate(STORED_STATES)}


#: Instrument categories, coded in ``LoadedBook.instrument_category``.
CATEGORIES = (
    "index_constituent",
    "other_a_share",
    "etf",
    "money_market_govt",
    "other_fund_bond",
)


CATEGORY_CODE = {name: code for code, name in enumerate(CATEGORIES)}


CURRENCY = "CNY"


#: Memory for the sorts and hashes of one load (SET LOCAL: this transaction only).
LOAD_WORK_MEM = "256MB"


@dataclass(frozen=True, slots=True)
class Lines:
    """Per-account lines (fractions, float64 arrays of shape (N,))."""

    warning: np.ndarray
    call: np.ndarray
    target: np.ndarray
    withdrawal: np.ndarray
    financing_margin_ratio: np.ndarray


@dataclass(frozen=True, eq=False)
class LoadedBook:
    """A book read from the database. Account index i ↔ ``credit_account_ids[i]`` (ascending
    pk); instrument index j ↔ ``instrument_ids[j]`` (``book.instrument`` holds j per row)."""

    book: margin.BookArrays
    credit_account_ids: np.ndarray  # int64 (N,), ascending
    investor_ids: np.ndarray  # int64 (N,)
    instrument_ids: np.ndarray  # int64 (K,), ascending
    instrument_units: np.ndarray  # str (K,): "SSE:600519"
    instrument_category: np.ndarray  # int8 (K,): index into CATEGORIES
    instrument_price: np.ndarray  # float64 (K,): mark used (override, latest, else 0)
    lines: Lines
    stored_state: np.ndarray  # int8 (N,): index into STORED_STATES (normal when no row)
    in_call: np.ndarray  # bool (N,): an unfinished (open/overdue/liquidating) call exists
    has_active_contract: np.ndarray  # bool (N,)
    # float64 (N,): the short margin ratio in force for an account with a short row or
    # restricted proceeds (account_view's short_margin_ratio), 0 for the others
    short_margin_ratio: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.short_margin_ratio is None:
            object.__setattr__(self, "short_margin_ratio", np.zeros(self.n_accounts))

    @property
    def has_short(self) -> np.ndarray:
        """bool (N,): the account owes shares (a short row)."""
        return self.book.group_sum((self.book.quantity < 0).astype(np.float64)) > 0

    def available_margin(self) -> np.ndarray:
        """Each account's available margin (unrounded float64), with its own financing and
        short margin ratios: account_view's available_margin."""
        return margin.available_margin_many(
            self.book,
            self.lines.financing_margin_ratio,
            short_margin_ratio=self.short_margin_ratio,
        )

    @property
    def n_accounts(self) -> int:
        return int(self.credit_account_ids.shape[0])

    def index_of(self, credit_account_ids: Iterable[int]) -> np.ndarray:
        """Account indexes of credit account pks (KeyError-like ValueError when absent)."""
        ids = np.asarray(list(credit_account_ids), dtype=np.int64)
        idx = _index_of(self.credit_account_ids, ids)
        if (idx < 0).any():
            raise ValueError(f"credit accounts not in the book: {ids[idx < 0].tolist()}")
        return idx

    def ratios(self) -> np.ndarray:
        return margin.ratios_many(self.book)

    def states(self, ratios: np.ndarray | None = None) -> np.ndarray:
        """Vectorised margin.classify with each account's own lines and open call: int8
        codes of margin.STATE_BY_CODE (normal / warning / call / cured)."""
        r = self.ratios() if ratios is None else ratios
        codes = np.full(r.shape, margin.STATE_NORMAL, dtype=np.int8)
        codes[r < self.lines.warning] = margin.STATE_WARNING
        codes[r < self.lines.call] = margin.STATE_CALL
        ic = self.in_call
        codes[ic] = np.where(r[ic] >= self.lines.target[ic], margin.STATE_CURED, margin.STATE_CALL)
        return codes


# --------------------------------------------------------------------------- raw reads


def _ids_literal(ids: Iterable[int]) -> sql.Composable:
    """An array literal of integer ids, '{1,2,3}', written directly: psycopg's quoting of a
    list adapts each element in Python (0.13 s for the 10,000 holders of a price move). Safe:
    int() leaves only digits and a sign."""
    return sql.SQL("'{" + ",".join(str(int(i)) for i in ids) + "}'")


def _id_filter(credit_account_ids, id_range, column: sql.Composable) -> sql.Composable:
    """The selection as predicates on a credit-account pk column (repeated inside subqueries,
    so each reads only the selected accounts' rows)."""
    parts: list[sql.Composable] = [sql.SQL("true")]
    if credit_account_ids is not None:
        parts.append(
            sql.SQL("{} = ANY({}::bigint[])").format(column, _ids_literal(credit_account_ids))
        )
    if id_range is not None:
        lo, hi = id_range
        parts.append(
            sql.SQL("{c} >= {lo} AND {c} < {hi}").format(
                c=column, lo=sql.Literal(int(lo)), hi=sql.Literal(int(hi))
            )
        )
    return sql.SQL(" AND ").join(parts)


def _account_filter(credit_account_ids, id_range) -> sql.Composable:
    """Open credit accounts (alias ca) of the selection."""
    return sql.SQL("ca.status = 'open' AND {}").format(
        _id_filter(credit_account_ids, id_range, sql.SQL("ca.id"))
    )


def holders_of(instrument_ids: Iterable[int]) -> list[int]:
    """Pks of the open credit accounts holding any of ``instrument_ids``: in custody (a non-zero
    client securities balance, found by the balance mirror's instrument index), financed (an
    open financing with something outstanding) or owed short (a non-zero short securities
    balance, in the same mirror index). One statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            # two index lookups joined by UNION (an OR of the two would scan every account)
            "SELECT ca.id FROM lending_creditaccount ca WHERE ca.status = 'open' "
            "AND ca.investor_id IN (SELECT r.investor_id FROM lending_riskbalance r "
            "WHERE r.instrument_id = ANY(%(ids)s) AND r.amount <> 0) "
            "UNION SELECT ca.id FROM lending_creditaccount ca WHERE ca.status = 'open' "
            "AND ca.id IN (SELECT f.credit_account_id FROM lending_financing f "
            "WHERE f.status = 'open' AND f.instrument_id = ANY(%(ids)s) "
            "AND NOT (f.principal_outstanding = 0 AND f.quantity_held = 0)) ORDER BY 1",
            {"ids": [int(i) for i in instrument_ids]},
        )
        return [row[0] for row in cursor.fetchall()]


def mirror_breaks(limit: int = 100) -> list[dict]:
    """Differences between the ledger and its mark-to-market mirror (lending.models.RiskBalance):
    a client ledger account the mirror should hold but does not, or holds with another amount,
    investor, kind or instrument, and a mirror row without its ledger account. Empty when the
    triggers kept it (always, unless a session switched them off). The definition is the SQL
    function `lending_riskbalance_breaks()` (migration 0011); at most ``limit`` rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_account_id, ledger_amount, mirror_amount, ledger_instrument_id, "
            "mirror_instrument_id FROM lending_riskbalance_breaks() ORDER BY 1 LIMIT %s",
            [limit],
        )
        return [
            {"ledger_account": row[0], "ledger": row[1], "mirror": row[2],
             "ledger_instrument": row[3], "mirror_instrument": row[4]}
            for row in cursor.fetchall()
        ]  # fmt: skip


def _index_of(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each of ``values`` in the distinct int64 ``keys`` (any order), -1 where it is
    not one of them. A lookup table when the keys span not much more than their number (a
    shard's investors, the instruments), else a binary search."""
    out = np.full(values.shape[0], -1, dtype=np.int64)
    if not keys.shape[0] or not values.shape[0]:
        return out
    low, high = int(keys.min()), int(keys.max())
    inside = (values >= low) & (values <= high)
    if high - low < 4 * keys.shape[0] + 1024:
        table = np.full(high - low + 1, -1, dtype=np.int64)
        table[keys - low] = np.arange(keys.shape[0])
        out[inside] = table[values[inside] - low]
        return out
    order = np.argsort(keys)
    at = np.searchsorted(keys[order], values)
    found = (at < keys.shape[0]) & (keys[order][np.minimum(at, keys.shape[0] - 1)] == values)
    out[found] = order[at[found]]
    return out


def _state_case(column: str) -> sql.Composable:
    whens = sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(name), sql.Literal(code))
        for name, code in STORED_STATE_CODE.items()
    )
    return sql.SQL("CASE {} {} ELSE 0 END").format(sql.SQL(column), whens)


def _to_float(value) -> float:
    return float(value) if value is not None else 0.0


def _rate_or_none_inf(value) -> float:
    """An exchange's conversion rate; no list in force (NULL) bounds nothing."""
    return float(value) if value is not None else np.inf


# --------------------------------------------------------------------------- the loader


def load_book(
    *,
    credit_account_ids: Iterable[int] | None = None,
    instrument_ids: Iterable[int] | None = None,
    price_override: dict[int, Decimal] | None = None,
    id_range: tuple[int, int] | None = None,
    on: date | None = None,
) -> LoadedBook:
    """The selected accounts as flat arrays (see the module docstring). ``on``: the day whose
    parameter-table lines apply to accounts without an active contract (today by default)."""
    with transaction.atomic():  # SET LOCAL: the work memory lasts this load only
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{LOAD_WORK_MEM}'")
        if instrument_ids is not None:
            holders = holders_of(instrument_ids)
            if credit_account_ids is not None:
                holders = sorted(set(holders).intersection(int(i) for i in credit_account_ids))
            credit_account_ids = holders
        elif credit_account_ids is not None:
            credit_account_ids = list(credit_account_ids)
        return _load(credit_account_ids, id_range, price_override, on or timezone.localdate())


def _investor_filter(column: sql.Composable, credit_account_ids, investor_ids) -> sql.Composable:
    """The loaded accounts' investors as a predicate on ``column``: a range for a shard, the
    list for explicit accounts (one open credit account per investor, so an investor's
    balances belong to one loaded account)."""
    if credit_account_ids is not None:
        return sql.SQL("{} = ANY({})").format(
            column, _ids_literal(np.unique(investor_ids).tolist())
        )
    return sql.SQL("{} BETWEEN {} AND {}").format(
        column, sql.Literal(int(investor_ids.min())), sql.Literal(int(investor_ids.max()))
    )


def _shorts(credit_account_ids, id_range, account_ids, inst_ids, o_acc, o_inst, o_qty):
    """The short rows of the loaded accounts (see the module docstring) from the shares owed
    (the mirror's short securities balances: account index, instrument id, shares > 0) as
    (account index, instrument index, shares owed, short-sale amount owed), in (account,
    instrument) order. One statement, only when some account owes shares."""
    i64, f64 = np.int64, np.float64
    s_inst = _index_of(inst_ids, o_inst)
    known = s_inst >= 0
    s_acc, s_inst, s_qty = o_acc[known], s_inst[known], o_qty[known]
    s_amount = np.zeros(s_acc.shape[0])
    if s_acc.shape[0]:
        # the open short positions' amount owed, summed per (account, instrument)
        p_account, p_instrument, p_amount = pg_arrays.columns(
            sql.SQL(
                "SELECT s.credit_account_id, s.instrument_id, sum(s.amount_outstanding) "
                "FROM lending_shortposition s WHERE {in_s} AND s.status = 'open' "
                "GROUP BY s.credit_account_id, s.instrument_id"
            ).format(in_s=_id_filter(credit_account_ids, id_range, sql.SQL("s.credit_account_id"))),
            (i64, i64, f64),
        )
        p_acc = _index_of(account_ids, p_account)
        p_inst = _index_of(inst_ids, p_instrument)
        found = (p_acc >= 0) & (p_inst >= 0)
        kk = max(inst_ids.shape[0], 1)
        keys = s_acc * kk + s_inst
        order = np.argsort(keys, kind="stable")
        s_acc, s_inst, s_qty, keys = s_acc[order], s_inst[order], s_qty[order], keys[order]
        s_amount = np.zeros(s_acc.shape[0])
        at = _index_of(keys, p_acc[found] * kk + p_inst[found])  # unique pairs per investor
        hit = at >= 0
        s_amount[at[hit]] = p_amount[found][hit]
    return s_acc, s_inst, s_qty, s_amount


def _short_margin_ratios(investors: np.ndarray, on: date) -> np.ndarray:
    """The short margin ratio in force on ``on`` for each of ``investors`` (investor profile
    pks): the dated parameter, a private securities investment fund's own (account_view's
    short_margin_ratio_for). One statement for the types, one parameter read per type found."""
    profile, private = pg_arrays.columns(
        sql.SQL(
            "SELECT p.id, (p.investor_type = {private})::int FROM accounts_investorprofile p "
            "WHERE p.id = ANY({ids}::bigint[])"
        ).format(
            private=sql.Literal(str(InvestorType.PRIVATE_FUND)),
            ids=_ids_literal(np.unique(investors).tolist()),
        ),
        (np.int64, np.int16),
    )
    is_private = np.zeros(investors.shape[0], dtype=bool)
    at = _index_of(profile, investors)
    is_private[at >= 0] = private[at[at >= 0]] > 0
    out = np.empty(investors.shape[0])
    for flag in (False, True):
        chosen = is_private == flag
        if chosen.any():
            key = P.short_margin_ratio_key(private_fund=flag)
            out[chosen] = float(compliance_selectors.parameter(key, on=on))
    return out


def _load(credit_account_ids, id_range, price_override, on: date) -> LoadedBook:
    where = _account_filter(credit_account_ids, id_range)

    # 1. accounts, their stored state and unfinished call (PostgreSQL keeps one unfinished
    # call per account: a plain join)
    i64, i16, f64 = np.int64, np.int16, np.float64
    account_ids, investor_ids, stored, in_call = pg_arrays.columns(
        sql.SQL(
            "SELECT ca.id, ca.investor_id, {state}, (mc.id IS NOT NULL)::int "
            "FROM lending_creditaccount ca "
            "LEFT JOIN lending_accountmarginstate ms ON ms.credit_account_id = ca.id "
            "LEFT JOIN lending_margincall mc ON mc.credit_account_id = ca.id "
            "AND mc.status IN ('open', 'overdue', 'liquidating') AND {in_mc} "
            "WHERE {where}"
        ).format(
            in_mc=_id_filter(credit_account_ids, id_range, sql.SQL("mc.credit_account_id")),
            state=_state_case("ms.state"),
            where=where,
        ),
        (i64, i64, i16, i16),
    )
    if account_ids.shape[0] > 1 and not (np.diff(account_ids) > 0).all():
        order = np.argsort(account_ids)
        account_ids, investor_ids = account_ids[order], investor_ids[order]
        stored, in_call = stored[order], in_call[order]
    n = account_ids.shape[0]

    # 1b. lines of the active contracts (PostgreSQL keeps one per investor), grouped by their
    # values: a desk has a handful of sets of lines, so each set is converted once, with the
    # accounts that have it; an account without an active contract has those in force on `on`
    line_columns = [np.full(n, np.nan) for _ in range(5)]
    contract = np.zeros(n, dtype=bool)
    groups = pg_arrays.fetch_all(
        sql.SQL(
            "SELECT c.warning_line::float8, c.call_line::float8, c.target_line::float8, "
            "c.withdrawal_line::float8, c.financing_margin_ratio::float8, "
            "array_agg(c.credit_account_id::int8) FROM lending_creditcontract c "
            "WHERE c.status = 'active' AND {in_cc} GROUP BY c.warning_line, c.call_line, "
            "c.target_line, c.withdrawal_line, c.financing_margin_ratio"
        ).format(in_cc=_id_filter(credit_account_ids, id_range, sql.SQL("c.credit_account_id")))
    )
    for *values, members in groups:
        at = _index_of(account_ids, pg_arrays.decode(members, np.int64))
        at = at[at >= 0]  # a contract of an account not loaded
        contract[at] = True
        for column, value in zip(line_columns, values, strict=True):
            column[at] = value
    if not contract.all():  # the parameter table, read once for this load
        d = credit_selectors.lines_in_force(on)
        fmr = credit_selectors.financing_margin_ratio_in_force(on)
        for column, value in zip(
            line_columns, (d.warning, d.call, d.target, d.withdrawal, fmr), strict=True
        ):
            column[~contract] = float(value)

    # 4. instruments (whole table: small) with latest prices
    # with the exchange's conversion rate in force on `on` (NULL: no list of its exchange in
    # force; 0: off the list) and the suspension flag
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.id, i.exchange || ':' || i.code, i.category, "  # noqa: S608 (no values)
            "CASE WHEN i.collateral_eligible AND NOT (i.is_st OR i.suspended OR i.delisting) "
            "THEN i.haircut ELSE 0 END, lp.price, "
            f"{exchange_lists.collateral_rate_sql('i')}, i.suspended "
            "FROM lending_instrument i LEFT JOIN lending_latestprice lp "
            "ON lp.instrument_id = i.id ORDER BY i.id",
            [on],
        )
        inst_rows = cursor.fetchall()
    k = len(inst_rows)
    inst_ids = np.array([r[0] for r in inst_rows], dtype=np.int64)
    inst_units = np.array([r[1] for r in inst_rows], dtype=object)
    inst_cat = np.array([CATEGORY_CODE.get(r[2], -1) for r in inst_rows], dtype=np.int8)
    # the lowest of the desk's haircut, the exchange's rate and the category's cap in force on
    # `on` (a later, lower dated cap or list applies from its day without editing the
    # instrument): as account_view's capped_haircut
    caps = instruments_selectors.band_parameters(on)
    inst_haircut = np.array(
        [
            min(_to_float(r[3]), float(caps.haircut_cap(r[2])), _rate_or_none_inf(r[5]))
            for r in inst_rows
        ]
    )
    overrides = price_override or {}
    inst_price = np.array(
        [_to_float(overrides.get(r[0], r[4])) for r in inst_rows], dtype=np.float64
    )
    # a suspended security at its last price less the desk's dated discount (account_view's
    # valuation_price); a short row is marked at the last price itself (inst_mark)
    inst_mark = inst_price.copy()
    suspended = np.array([bool(r[6]) for r in inst_rows], dtype=bool)
    if suspended.any():
        inst_price[suspended] *= 1.0 - float(caps.suspended_discount())
    unknown = set(overrides) - set(inst_ids.tolist())
    if unknown:
        raise ValueError(f"price_override: unknown instruments {sorted(unknown)}")

    cash = np.zeros(n)
    debt = np.zeros(n)
    interest = np.zeros(n)
    other = np.zeros(n)
    proceeds = np.zeros(n)
    smr = np.zeros(n)
    empty = np.zeros(0)
    pos_key = pos_acc = pos_inst = np.zeros(0, dtype=np.int64)
    held = f_amount = f_qty = empty
    s_acc = s_inst = np.zeros(0, dtype=np.int64)
    s_qty = s_amount = empty

    if n:
        # 2. ledger balances of the selected accounts' investors, from their mirror (the
        # investors' index: a range for a shard, the list for explicit accounts; one open credit
        # account per investor, so an investor's balances belong to one loaded account)
        investors = _investor_filter(sql.SQL("r.investor_id"), credit_account_ids, investor_ids)
        # what each balance is: its mirror kind (lending.mtm.models.RiskBalanceKind) and, for
        # securities held or owed short, the instrument id (-4: a unit no instrument has, it
        # counts nothing); a dividend entitlement receivable is other collateral (as
        # account_view's entitlements_receivable)
        b_investor, b_kind, b_instrument, b_value = pg_arrays.columns(
            sql.SQL(
                "SELECT r.investor_id, r.kind, coalesce(r.instrument_id, -4), r.amount "
                "FROM lending_riskbalance r WHERE {investors} AND r.amount <> 0"
            ).format(investors=investors),
            (i64, i64, i64, f64),
        )
        b_acc = _index_of(investor_ids, b_investor)
        mine = b_acc >= 0
        b_acc, b_kind, b_value = b_acc[mine], b_kind[mine], b_value[mine]
        b_instrument = b_instrument[mine]
        for kind, target in (
            (RiskBalanceKind.CLIENT_MONEY, cash),
            (RiskBalanceKind.FINANCING_RECEIVABLE, debt),
            (RiskBalanceKind.INTEREST_RECEIVABLE, interest),
            (RiskBalanceKind.ENTITLEMENT_RECEIVABLE, other),
            # lending fees, compensation and buy-in shortfalls owed: with the interest
            (RiskBalanceKind.LENDING_FEE_RECEIVABLE, interest),
            (RiskBalanceKind.SHORT_PROCEEDS, proceeds),
        ):
            chosen = b_kind == kind
            target += np.bincount(b_acc[chosen], b_value[chosen], minlength=n)
        owed = (b_kind == RiskBalanceKind.SHORT_SECURITIES) & (b_instrument > 0) & (b_value > 0)
        o_acc, o_inst, o_qty = b_acc[owed], b_instrument[owed], b_value[owed]
        b_what = np.where(b_kind == RiskBalanceKind.CLIENT_SECURITIES, b_instrument, 0)
        sec = b_what > 0
        b_inst = _index_of(inst_ids, b_what[sec])  # -1: not an instrument of the table
        known = b_inst >= 0
        h_acc = b_acc[sec][known]
        h_inst = b_inst[known]
        h_qty = b_value[sec][known]

        # 3. open financings of the selected accounts, one row per lot (summed per account and
        # instrument below; a lot of an account not loaded, closed, is dropped)
        fin_account, fin_instrument, fin_amount, fin_quantity = pg_arrays.columns(
            sql.SQL(
                "SELECT f.credit_account_id, f.instrument_id, f.principal_outstanding, "
                "f.quantity_held FROM lending_financing f WHERE {in_f} AND f.status = 'open' "
                "AND NOT (f.principal_outstanding = 0 AND f.quantity_held = 0)"
            ).format(in_f=_id_filter(credit_account_ids, id_range, sql.SQL("f.credit_account_id"))),
            (i64, i64, f64, f64),
        )
        f_acc = _index_of(account_ids, fin_account)
        loaded_lot = f_acc >= 0
        f_acc, fin_amount, fin_quantity = (
            f_acc[loaded_lot],
            fin_amount[loaded_lot],
            fin_quantity[loaded_lot],
        )
        f_inst = _index_of(inst_ids, fin_instrument[loaded_lot])

        # merge holdings and financings on (account, instrument)
        kk = max(k, 1)
        keys = np.concatenate([h_acc * kk + h_inst, f_acc * kk + f_inst])
        uniq, inverse = np.unique(keys, return_inverse=True)
        m = uniq.shape[0]
        nh = h_acc.shape[0]
        held = np.bincount(inverse[:nh], h_qty, minlength=m)
        f_amount = np.bincount(inverse[nh:], fin_amount, minlength=m)
        f_qty_all = np.bincount(inverse[nh:], fin_quantity, minlength=m)
        pos_key = uniq
        pos_acc = uniq // kk
        pos_inst = uniq % kk
        f_qty = np.where(held > 0, np.minimum(held, f_qty_all), 0.0)

        # 5. the short side (see the module docstring)
        s_acc, s_inst, s_qty, s_amount = _shorts(
            credit_account_ids, id_range, account_ids, inst_ids, o_acc, o_inst, o_qty
        )
        short_side = np.zeros(n, dtype=bool)
        short_side[s_acc] = True
        short_side |= proceeds != 0
        if short_side.any():
            smr[short_side] = _short_margin_ratios(investor_ids[short_side], on)
        proceeds = np.maximum(proceeds, 0.0)  # account_view: max(proceeds, 0)

    # rows: short row of each instrument owed; financed row where amount > 0 or financed
    # qty > 0; own row for held - f_qty > 0; ordered by (account, instrument), the short row
    # first, then the financed one (account_view's order): the parts are sorted already (unique
    # keys), so a stable sort of their concatenation only merges three runs
    kk = max(k, 1)
    fin_row = (f_amount > 0) | (f_qty > 0)
    own_qty = held - f_qty
    own_row = own_qty > 0
    n_fin, n_own, n_short = int(fin_row.sum()), int(own_row.sum()), s_acc.shape[0]
    order = np.argsort(
        np.concatenate([s_acc * kk + s_inst, pos_key[fin_row], pos_key[own_row]]), kind="stable"
    )
    account = np.concatenate([s_acc, pos_acc[fin_row], pos_acc[own_row]])[order]
    instrument = np.concatenate([s_inst, pos_inst[fin_row], pos_inst[own_row]])[order]
    quantity = np.concatenate([-s_qty, f_qty[fin_row], own_qty[own_row]])[order]
    financed = np.concatenate([np.zeros(n_short), f_amount[fin_row], np.zeros(n_own)])[order]
    short_sale = np.concatenate([s_amount, np.zeros(n_fin + n_own)])[order]
    is_short = quantity < 0

    book = margin.BookArrays(
        account=account,
        quantity=quantity,
        price=np.where(is_short, inst_mark[instrument], inst_price[instrument])
        if k
        else np.zeros(0),
        haircut=inst_haircut[instrument] if k else np.zeros(0),
        financed=financed,
        cash=cash,
        debt=debt,
        interest_fees=interest,
        other_collateral=other,
        instrument=instrument,
        short_sale=short_sale,
        short_proceeds=proceeds,
    )
    return LoadedBook(
        book=book,
        credit_account_ids=account_ids,
        investor_ids=investor_ids,
        instrument_ids=inst_ids,
        instrument_units=inst_units,
        instrument_category=inst_cat,
        instrument_price=inst_price,
        lines=Lines(*line_columns),
        stored_state=stored.astype(np.int8),
        in_call=in_call > 0,
        has_active_contract=contract,
        short_margin_ratio=smr,
    )


def reprice(loaded: LoadedBook, instrument_price: np.ndarray) -> margin.BookArrays:
    """The loaded book at other instrument prices (K,), e.g. a stress scenario."""
    return loaded.book.with_prices(
        np.asarray(instrument_price, dtype=np.float64)[loaded.book.instrument]
    )
