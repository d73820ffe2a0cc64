"""Writes of instruments, their collateral policy and prices.

* `instrument_create`, `haircut_set` (capped by the dated cap of the category: `haircut_cap`),
  `instrument_flags_set` (ST, suspended, delisting force the haircut to 0): staff with the
  instrument permissions; every change stamped with who and why.
* `prices_ingest` / `prices_import_csv`: ticks from the market-data feed or a staff upload,
  idempotent per (instrument, time); the latest price only moves forward. A tick outside its
  instrument's daily price band for its day (lending.domain.prices.price_band around the
  previous close, the dated parameters of its board) refuses the whole batch. After commit the
  registered PRICE_HOOKS run (the mark-to-market revalues the holders; lending.mtm.tasks
  registers it when Django starts)."""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, ValidationFailed
from accounts.permissions import require_permission
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.common.inputs import decimal_parsed, fraction_parsed, reason_required
from lending.domain import prices as price_rules
from lending.domain.formats import fmt_ratio
from lending.domain.margin import ZERO
from lending.instruments import selectors as instruments_selectors
from lending.instruments.models import Board, Instrument, InstrumentCategory

logger = logging.getLogger(__name__)

# --- instruments and collateral policy --------------------------------------------------------


def haircut_cap(category: str, *, on: date | None = None) -> Decimal:
    """The regulator's cap for a category, a dated parameter (compliance parameter table)."""
    if category not in InstrumentCategory.values:
        raise ValidationFailed(
            _("category: unknown instrument category %(category)s") % {"category": repr(category)},
            extra={"field": "category"},
        )
    return compliance_selectors.parameter(P.HAIRCUT_CAP_PREFIX + category, on=on)


def _check_haircut(haircut: Decimal, category: str) -> None:
    cap = haircut_cap(category)
    if haircut > cap:
        raise ValidationFailed(
            _("haircut: %(haircut)s is above the cap of %(cap)s for %(category)s")
            % {
                "haircut": fmt_ratio(haircut),
                "cap": fmt_ratio(cap),
                "category": InstrumentCategory(category).label,
            },
            extra={"field": "haircut", "cap": str(cap), "category": category},
        )


def instrument_create(
    *,
    code: str,
    exchange: str,
    name: str,
    category: str,
    board: str = "",
    listed_on: date | str | None = None,
    tradable_float: int,
    lot_size: int = 100,
    is_st: bool = False,
    suspended: bool = False,
    delisting: bool = False,
    collateral_eligible: bool = False,
    haircut: Decimal | str = ZERO,
    financing_eligible: bool = False,
    actor,
    reason: str = "new instrument",
) -> Instrument:
    """A new instrument. `board` defaults to the board of its code (SSE 688/689 STAR, SZSE
    300/301 ChiNext, else main); `listed_on`, its first trading day, when it is a new listing
    (its first trading days have no price band)."""
    require_permission(actor, "lending.add_instrument", action="add an instrument")
    code = (code or "").strip().upper()
    if not code or not code.replace(".", "").isalnum():
        raise ValidationFailed(
            _("code: %(code)s is not an instrument code") % {"code": repr(code)},
            extra={"field": "code"},
        )
    haircut = fraction_parsed(haircut, "haircut")
    board = (board or "").strip().lower() or price_rules.board_of(exchange, code)
    if board not in Board.values:
        raise ValidationFailed(
            _("board: unknown board %(board)s") % {"board": repr(board)}, extra={"field": "board"}
        )
    if listed_on is not None and not isinstance(listed_on, date):
        try:
            parsed = parse_date(str(listed_on).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationFailed(
                _("listed_on: %(value)s is not a date") % {"value": repr(listed_on)},
                extra={"field": "listed_on"},
            )
        listed_on = parsed
    if category not in InstrumentCategory.values:
        raise ValidationFailed(
            _("category: unknown category %(category)s") % {"category": repr(category)},
            extra={"field": "category"},
        )
    if int(tradable_float) <= 0:
        raise ValidationFailed(
            _("tradable_float: must be above zero"), extra={"field": "tradable_float"}
        )
    if int(lot_size) <= 0:
        raise ValidationFailed(_("lot_size: must be above zero"), extra={"field": "lot_size"})
    flagged = is_st or suspended or delisting
    if flagged:
        haircut = ZERO
    else:
        _check_haircut(haircut, category)
    instrument = Instrument(
        code=code,
        exchange=exchange,
        name=name.strip(),
        category=category,
        board=board,
        listed_on=listed_on,
        tradable_float=int(tradable_float),
        lot_size=int(lot_size),
        is_st=is_st,
        suspended=suspended,
        delisting=delisting,
        collateral_eligible=collateral_eligible,
        haircut=haircut,
        financing_eligible=financing_eligible,
    )
    stamp(instrument, actor=actor, reason=reason_required(reason))
    try:
        with transaction.atomic():
            instrument.save()
    except IntegrityError as exc:
        raise Conflict(
            _("code: %(code)s already exists") % {"code": f"{exchange}:{code}"},
            extra={"field": "code"},
        ) from exc
    return instrument


def haircut_set(
    *,
    instrument: Instrument,
    haircut: Decimal | str,
    actor,
    reason: str,
    collateral_eligible: bool | None = None,
    financing_eligible: bool | None = None,
) -> Instrument:
    """Set the haircut (and optionally the eligibility flags). Above the category cap: refused
    with ValidationFailed naming the field and the cap. While ST/suspended/delisting only 0."""
    require_permission(actor, "lending.change_instrument", action="set a haircut")
    reason = reason_required(reason)
    haircut = fraction_parsed(haircut, "haircut")
    with transaction.atomic():
        instrument = Instrument.objects.select_for_update(of=("self",)).get(pk=instrument.pk)
        _check_haircut(haircut, instrument.category)
        if instrument.flagged and haircut != 0:
            raise ValidationFailed(
                _("haircut: %(instrument)s is ST, suspended or delisting: its haircut is zero")
                % {"instrument": instrument.ledger_unit},
                extra={"field": "haircut", "cap": "0"},
            )
        instrument.haircut = haircut
        if collateral_eligible is not None:
            instrument.collateral_eligible = collateral_eligible
        if financing_eligible is not None:
            instrument.financing_eligible = financing_eligible
        stamp(instrument, actor=actor, reason=f"haircut {haircut}: {reason}")
        instrument.save()
    return instrument


def instrument_category_set(
    *, instrument: Instrument, category: str, actor, reason: str
) -> Instrument:
    """Move an instrument to another category; its haircut is re-applied against the new
    category's dated cap (lowered to the cap when above it, said in the history's reason)."""
    require_permission(actor, "lending.change_instrument", action="change a category")
    reason = reason_required(reason)
    if category not in InstrumentCategory.values:
        raise ValidationFailed(
            _("category: unknown category %(category)s") % {"category": repr(category)},
            extra={"field": "category"},
        )
    with transaction.atomic():
        instrument = Instrument.objects.select_for_update(of=("self",)).get(pk=instrument.pk)
        previous = instrument.category
        cap = haircut_cap(category)
        note = f"category {previous} -> {category}"
        if instrument.haircut > cap:
            note += f", haircut {instrument.haircut} lowered to the cap {cap}"
            instrument.haircut = cap
        instrument.category = category
        stamp(instrument, actor=actor, reason=f"{note}: {reason}")
        instrument.save(update_fields=["category", "haircut"])
    return instrument


def instrument_flags_set(
    *,
    instrument: Instrument,
    actor,
    reason: str,
    is_st: bool | None = None,
    suspended: bool | None = None,
    delisting: bool | None = None,
) -> Instrument:
    """Mark or clear ST, suspension and delisting. A flagged security's haircut is forced to 0
    (clearing the flag does not restore it: staff set a haircut again)."""
    require_permission(actor, "lending.change_instrument", action="flag an instrument")
    reason = reason_required(reason)
    with transaction.atomic():
        instrument = Instrument.objects.select_for_update(of=("self",)).get(pk=instrument.pk)
        for name, value in (("is_st", is_st), ("suspended", suspended), ("delisting", delisting)):
            if value is not None:
                setattr(instrument, name, bool(value))
        if instrument.flagged:
            instrument.haircut = ZERO
        flags = ",".join(n for n in ("is_st", "suspended", "delisting") if getattr(instrument, n))
        stamp(instrument, actor=actor, reason=f"flags [{flags}]: {reason}")
        instrument.save()
    transaction.on_commit(lambda pk=instrument.pk: on_prices_changed([pk]))
    return instrument


# --- prices -----------------------------------------------------------------------------------

_TICKS_SQL = """
INSERT INTO lending_pricetick (instrument_id, price, at, source, received_at)
SELECT i, p, a, %s, now() FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[]) AS t(i, p, a)
ON CONFLICT (instrument_id, at) DO NOTHING
RETURNING instrument_id
"""


# Moves the latest price forward only: the WHERE makes an older tick a no-op, and the row lock
# taken by ON CONFLICT DO UPDATE makes two concurrent ingests serialise on it.
_LATEST_SQL = """
INSERT INTO lending_latestprice (instrument_id, price, at, prev_close)
SELECT i, p, a, NULL FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[]) AS t(i, p, a)
ORDER BY i
ON CONFLICT (instrument_id) DO UPDATE
   SET price = EXCLUDED.price,
       at = EXCLUDED.at,
       prev_close = CASE
           WHEN (lending_latestprice.at AT TIME ZONE 'Asia/Shanghai')::date
                < (EXCLUDED.at AT TIME ZONE 'Asia/Shanghai')::date
           THEN lending_latestprice.price ELSE lending_latestprice.prev_close END
 WHERE lending_latestprice.at < EXCLUDED.at
RETURNING instrument_id
"""


def _instrument_index() -> dict[str, int]:
    index: dict[str, int] = {}
    ambiguous: set[str] = set()
    for pk, exchange, code in Instrument.objects.values_list("pk", "exchange", "code"):
        index[f"{exchange}:{code}"] = pk
        if code in index:
            ambiguous.add(code)
        index[code] = pk
    for code in ambiguous:
        index.pop(code, None)
    return index


#: A feed's clock may run a little ahead of ours; a tick further in the future is refused, or
#: it would stay the latest price (older ticks never overwrite it) until its time came.
TICK_MAX_AHEAD = timedelta(minutes=5)


class _Places:
    """How a batch's errors name a tick: the API's JSON list by index ("ticks[1].price",
    extra "row": 1), a CSV file by its line as a spreadsheet numbers it (the header is line 1,
    the first tick line 2: "line 3, price", extra "line": 3), as the exchange lists do."""

    def __init__(self, lines: list[int] | None):
        self.lines = lines

    def of(self, row: int) -> int:
        return self.lines[row] if self.lines is not None else row

    def field(self, row: int, name: str) -> str:
        if self.lines is None:
            return f"ticks[{row}].{name}"
        return _("line %(line)s, %(field)s") % {"line": self.lines[row], "field": name}

    def details(self, row: int) -> dict:
        return {"line": self.lines[row]} if self.lines is not None else {"row": row}


class PriceIngest(tuple):
    """(accepted, ignored), what prices_ingest returns, with the ignored ticks explained:
    `unknown` lists (where, code) of every tick whose instrument the desk does not know
    (where: the index in the batch, or the file's line for a CSV), in the batch's order;
    `repeated` counts ticks already received (same instrument and time)."""

    unknown: tuple[tuple[int, str], ...]

    def __new__(cls, accepted: int, ignored: int, unknown=()):
        result = super().__new__(cls, (accepted, ignored))
        result.unknown = tuple(unknown)
        return result

    @property
    def accepted(self) -> int:
        return self[0]

    @property
    def ignored(self) -> int:
        return self[1]

    @property
    def repeated(self) -> int:
        return self[1] - len(self.unknown)


def _parse_at(value, field: str, extra: dict) -> datetime:
    try:
        at = value if isinstance(value, datetime) else parse_datetime(str(value or "").strip())
    except ValueError:  # well-formed but impossible, e.g. month 13
        at = None
    if at is None:
        raise ValidationFailed(
            _("%(field)s: %(value)s is not an ISO date-time")
            % {"field": field, "value": repr(value)},
            extra={"field": "at", **extra},
        )
    if timezone.is_naive(at):
        at = timezone.make_aware(at)  # desk time zone (Asia/Shanghai)
    if at > timezone.now() + TICK_MAX_AHEAD:
        raise ValidationFailed(
            _("%(field)s: %(at)s is more than %(minutes)s minutes in the future")
            % {
                "field": field,
                "at": at.isoformat(),
                "minutes": int(TICK_MAX_AHEAD.total_seconds() // 60),
            },
            extra={"field": "at", **extra, "rule": "future"},
        )
    return at


def prices_ingest(
    ticks: Iterable[Mapping], *, source: str, actor=None, lines: list[int] | None = None
) -> PriceIngest:
    """Store ticks {instrument (code or "SSE:600519"), price, at}; returns (accepted, ignored)
    as a PriceIngest, which also names the unknown instruments' ticks.

    Idempotent per instrument and time: a repeated tick is ignored, as is a tick of an unknown
    instrument. An accepted tick older than the latest price is kept as history but never
    overwrites the newer latest price. A malformed tick refuses the whole batch, naming it, as
    does a tick outside its instrument's daily price band for its day (`_check_bands`): then
    nothing is written and the latest price does not move. `lines` (a CSV file's line of each
    tick) makes errors and `unknown` name lines instead of indexes in the batch.
    After commit, `on_prices_changed` gets the instruments whose latest price moved."""
    require_permission(actor, "lending.add_pricetick", action="ingest prices")
    ticks = list(ticks)
    places = _Places(lines)
    index = _instrument_index()
    ids: list[int] = []
    prices: list[Decimal] = []
    times: list[datetime] = []
    rows: list[int] = []
    unknown: list[tuple[int, str]] = []
    for row, tick in enumerate(ticks):
        if not isinstance(tick, Mapping):
            raise ValidationFailed(
                _("ticks[%(row)s]: not an object") % {"row": row}, extra={"row": row}
            )
        code = str(tick.get("instrument") or "").strip().upper()
        price = decimal_parsed(tick.get("price"), places.field(row, "price"), places=4)
        at = _parse_at(tick.get("at"), places.field(row, "at"), places.details(row))
        pk = index.get(code)
        if pk is None:
            unknown.append((places.of(row), code))
            continue
        ids.append(pk)
        prices.append(price)
        times.append(at)
        rows.append(row)
    _check_bands(rows, ids, prices, times, places)
    with transaction.atomic():
        accepted, moved = price_ticks_write_in_transaction(
            source=source, ids=ids, prices=prices, times=times
        )
        if moved:
            transaction.on_commit(lambda: on_prices_changed(moved))
    return PriceIngest(accepted, len(ticks) - accepted, unknown)


def price_ticks_write_in_transaction(
    *, source: str, ids: list[int], prices: list[Decimal], times: list[datetime]
) -> tuple[int, list[int]]:
    """Store checked ticks (once per instrument and time) and move each instrument's latest
    price to its newest tick of the batch, never backwards. Returns (ticks stored, instruments
    whose latest price moved). The caller checked the ticks and holds the transaction; no
    hook runs here (prices_ingest runs on_prices_changed after commit)."""
    if not ids:
        return 0, []
    newest: dict[int, tuple[datetime, Decimal]] = {}
    for pk, price, at in zip(ids, prices, times, strict=True):
        if pk not in newest or at > newest[pk][0]:
            newest[pk] = (at, price)
    order = sorted(newest)
    with connection.cursor() as cursor:
        cursor.execute(_TICKS_SQL, [source[:40] or "api", ids, prices, times])
        accepted = len(cursor.fetchall())
        cursor.execute(
            _LATEST_SQL, [order, [newest[i][1] for i in order], [newest[i][0] for i in order]]
        )
        return accepted, [r[0] for r in cursor.fetchall()]


def _check_bands(
    rows: list[int],
    ids: list[int],
    prices: list[Decimal],
    times: list[datetime],
    places: _Places | None = None,
) -> None:
    """Refuse (ValidationFailed naming the tick) a tick outside its instrument's daily price
    band for its day. The previous close of a tick's day is the last price before that day
    began: stored (`instruments_selectors.previous_closes`) or earlier in this batch, whichever
    is later. No previous close (a first price) or a new listing's first days: no band."""
    if not ids:
        return
    places = places or _Places(None)
    days = [timezone.localdate(at) for at in times]
    stored = instruments_selectors.previous_closes(zip(ids, days, strict=True))
    batch: dict[int, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for pk, price, at in zip(ids, prices, times, strict=True):
        batch[pk].append((at, price))
    instruments = Instrument.objects.in_bulk(set(ids))
    params: dict[date, instruments_selectors.BandParameters] = {}
    for row, pk, price, day in zip(rows, ids, prices, days, strict=True):
        start = instruments_selectors.day_start(day)
        previous = stored.get((pk, day))
        earlier = [tick for tick in batch[pk] if tick[0] < start]
        if earlier:
            last = max(earlier, key=lambda tick: tick[0])
            if previous is None or last[0] > previous[0]:
                previous = last
        if previous is None:
            continue
        if day not in params:
            params[day] = instruments_selectors.band_parameters(day)
        instrument = instruments[pk]
        band = instruments_selectors.band_of(
            instrument, on=day, prev_close=previous[1], params=params[day]
        )
        if band is None or band.contains(price):
            continue
        rule = Board(instrument.board).label
        if instrument.is_st:
            rule = f"{rule}, {_('ST / *ST')}"
        raise ValidationFailed(
            _(
                "%(field)s: %(price)s is outside the daily price band of "
                "%(instrument)s on %(day)s, %(low)s to %(high)s (previous close %(close)s, "
                "±%(fraction)s: %(rule)s)"
            )
            % {
                "field": places.field(row, "price"),
                "price": price,
                "instrument": instrument.ledger_unit,
                "day": day.isoformat(),
                "low": band.low,
                "high": band.high,
                "close": band.reference.quantize(band.tick),
                "fraction": fmt_ratio(band.fraction),
                "rule": rule,
            },
            extra={
                "field": "price",
                **places.details(row),
                "rule": "price_band",
                "instrument": instrument.ledger_unit,
                "day": day.isoformat(),
                "low": str(band.low),
                "high": str(band.high),
                "previous_close": str(band.reference),
                "fraction": str(band.fraction),
                "board": instrument.board,
            },
        )


def prices_import_csv(*, content: str | bytes, source: str = "csv", actor=None) -> PriceIngest:
    """CSV with header `instrument,price,at` (UTF-8); see prices_ingest. Ticks are named by
    their line in the file as a spreadsheet numbers it: the header is line 1, the first tick
    line 2; blank lines count (as in the exchange lists' import)."""
    if isinstance(content, bytes):
        content = content.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = {"instrument", "price", "at"} - set(reader.fieldnames or [])
    if missing:
        raise ValidationFailed(
            _("file: the header lacks %(missing)s (instrument,price,at)")
            % {"missing": ", ".join(sorted(missing))},
            extra={"field": "file"},
        )
    ticks, lines = [], []
    try:
        for tick in reader:
            ticks.append(tick)
            lines.append(reader.line_num)  # the line the tick ends on (a quoted field may wrap)
    except csv.Error as exc:
        raise ValidationFailed(
            _("file: line %(line)s: not a CSV line (%(problem)s)")
            % {"line": reader.line_num, "problem": exc},
            extra={"field": "file"},
        ) from exc
    return prices_ingest(ticks, source=source, actor=actor, lines=lines)


#: Callables run after commit with the ids of instruments whose latest price moved (or whose
#: flags changed). The calls engineer / mark-to-market registers here; keep them light (enqueue).
PRICE_HOOKS: list = []


def on_prices_changed(instrument_ids: list[int]) -> None:
    """The hook point after prices move: runs the registered PRICE_HOOKS (errors are logged,
    never raised: a failed revaluation must not undo the ingest)."""
    for hook in list(PRICE_HOOKS):
        try:
            hook(list(instrument_ids))
        except Exception:
            logger.exception("price hook %r failed", hook)
