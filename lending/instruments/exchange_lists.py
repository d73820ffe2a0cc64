"""The exchanges' lists: eligible collateral (with each security's conversion rate, 折算率) and
the financing target list (融资标的), imported daily with their source file.

Rules (docs/exchange-lists.md; DOMAIN.md "Exchange lists, suspensions, restricted holders"):

* An import is a complete list of one exchange and kind, from its `effective_on` day. The list
  in force on day D is the latest import with effective_on <= D (a later import of the same
  day, a corrected file, wins). A security absent from the list in force is off it.
* Before the first import of an exchange and kind (no list in force on D), the desk's own list
  stands alone: the desk's haircut and its "may be bought on margin" flag decide.
* The haircut in force is the lowest of the desk's (0 off the desk's eligible list or while
  ST / suspended / delisting), the exchange's conversion rate (0 off its eligible-collateral
  list in force) and the category's dated cap (lending.instruments.selectors.haircut_in_force).
  The desk may be stricter than the exchange, never looser.
* A security off the financing target list in force gets no new financed buy (a 422 naming
  the instrument, the list and the rule, raised by lending.financing.services'
  financed_purchase_check); own-cash buys and sales are not affected.

`exchange_list_import` is the write (the staff page, the API route and the management command
`import_exchange_list` reach it): every line is validated before anything is written, errors
name their line, and the same file for the same exchange, kind and day is the same import.
Codes the desk does not know are kept (entry without instrument) and reported on the import.

The valuation reads the conversion rate in force inside its own statement (`collateral_rate_sql`,
lending.financing.valuation and lending.mtm.book_arrays), never one query per position."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from lending.common.inputs import reason_required
from lending.instruments.models import (
    Exchange,
    ExchangeListEntry,
    ExchangeListImport,
    ExchangeListKind,
    Instrument,
)

#: The permission to import a list: the one that changes haircuts (risk officers).
IMPORT_PERMISSION = "lending.change_instrument"

#: Accepted header names of each column (the exchanges' Chinese headers too).
CODE_HEADERS = ("code", "证券代码")
RATE_HEADERS = ("conversion_rate", "折算率")

#: An exchange's own suffix of a code (600519.SH, 000001.SZ), besides "SSE:600519".
SUFFIXES = {"SH": Exchange.SSE, "SZ": Exchange.SZSE}

#: At most this many line errors are listed in one refusal.
MAX_ERRORS = 20


@dataclass(frozen=True)
class _Line:
    line: int
    code: str
    rate: Decimal | None


def _decoded(content: str | bytes) -> tuple[str, bytes]:
    """(the file's text, its bytes): the text is kept as received (a byte-order mark too), so
    the stored file encodes back to the very bytes whose SHA-256 the import records."""
    if isinstance(content, str):
        text, raw = content, content.encode("utf-8")
    else:
        try:
            text, raw = content.decode("utf-8"), content
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                _("file: not UTF-8 text (save the exchange's list as CSV, UTF-8)"),
                extra={"field": "file"},
            ) from exc
    if "\x00" in text:
        raise ValidationFailed(
            _("file: contains NUL bytes: not a CSV file"), extra={"field": "file"}
        )
    return text, raw


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    cleaned = [h.strip().lower() for h in header]
    for name in names:
        if name in cleaned:
            return cleaned.index(name)
    return None


def _code(value: str, exchange: str) -> tuple[str, str | None]:
    """(bare code, error or None) of a cell: 600519, SSE:600519 or 600519.SH."""
    code = (value or "").strip().upper()
    prefix, sep, rest = code.partition(":")
    other = None
    if sep:
        other, code = prefix, rest
    elif "." in code:
        head, _dot, suffix = code.rpartition(".")
        if suffix in SUFFIXES:
            other, code = SUFFIXES[suffix], head
    if other is not None and other != exchange:
        return code, _("code %(code)s is of %(other)s, not of %(exchange)s") % {
            "code": repr(value.strip()),
            "other": other,
            "exchange": exchange,
        }
    if not code or not (code.isascii() and code.isalnum()) or len(code) > 12:
        return code, _("code %(code)s is not a security code") % {"code": repr(value.strip())}
    return code, None


def _rate(value: str) -> tuple[Decimal | None, str | None]:
    text = (value or "").strip()
    percent = text.endswith("%")
    try:
        rate = Decimal(text.rstrip("%").strip())
    except InvalidOperation:
        return None, _("conversion rate %(value)s is not a number") % {"value": repr(text)}
    if not rate.is_finite():
        return None, _("conversion rate %(value)s is not a number") % {"value": repr(text)}
    if percent:
        rate = rate / 100
    if rate < 0 or rate > 1:
        return None, _(
            "conversion rate %(value)s is not a fraction in [0, 1] (or 0 to 100 per cent)"
        ) % {"value": text}
    if rate != rate.quantize(Decimal("0.0001")):
        return None, _("conversion rate %(value)s has more than 4 decimal places") % {"value": text}
    return rate, None


def _parsed(text: str, *, exchange: str, kind: str) -> list[_Line]:
    """Every line of the file, validated; ValidationFailed naming each bad line."""
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:  # e.g. a field beyond the csv module's size limit
        raise ValidationFailed(
            _("file: not a CSV file (%(problem)s)") % {"problem": exc}, extra={"field": "file"}
        ) from exc
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if not numbered:
        raise ValidationFailed(_("file: the file is empty"), extra={"field": "file"})
    header_line, header = numbered[0]
    code_at = _column(header, CODE_HEADERS)
    rate_at = _column(header, RATE_HEADERS)
    collateral = kind == ExchangeListKind.ELIGIBLE_COLLATERAL
    if code_at is None or (collateral and rate_at is None):
        wanted = "code,conversion_rate" if collateral else "code"
        raise ValidationFailed(
            _("file: line %(line)s: the header must name the columns %(wanted)s")
            % {"line": header_line, "wanted": wanted},
            extra={"field": "file", "line": header_line},
        )
    errors: list[tuple[int, str]] = []
    lines: list[_Line] = []
    seen: dict[str, int] = {}
    for n, row in numbered[1:]:
        cell = row[code_at] if code_at < len(row) else ""
        code, problem = _code(cell, exchange)
        rate = None
        if problem is None and collateral:
            rate, problem = _rate(row[rate_at] if rate_at < len(row) else "")
        if problem is None and code in seen:
            problem = _("code %(code)s is listed twice (first on line %(first)s)") % {
                "code": code,
                "first": seen[code],
            }
        if problem is not None:
            errors.append((n, problem))
            continue
        seen[code] = n
        lines.append(_Line(n, code, rate))
    if errors:
        shown = "; ".join(
            _("line %(line)s: %(message)s") % {"line": n, "message": problem}
            for n, problem in errors[:MAX_ERRORS]
        )
        more = (
            _(" (and %(count)s more)") % {"count": len(errors) - MAX_ERRORS}
            if len(errors) > MAX_ERRORS
            else ""
        )
        raise ValidationFailed(
            _("file: %(shown)s%(more)s; nothing was imported") % {"shown": shown, "more": more},
            extra={
                "field": "file",
                "errors": [{"line": n, "message": p} for n, p in errors[:MAX_ERRORS]],
            },
        )
    if not lines:
        raise ValidationFailed(
            _("file: no securities listed (an exchange's list is never empty: nothing imported)"),
            extra={"field": "file"},
        )
    return lines


def _effective_on(value) -> date:
    if isinstance(value, date):
        day = value
    else:
        try:
            day = parse_date(str(value or "").strip())
        except ValueError:
            day = None
        if day is None:
            raise ValidationFailed(
                _("effective_on: %(value)s is not a date (YYYY-MM-DD)") % {"value": repr(value)},
                extra={"field": "effective_on"},
            )
    if day < timezone.localdate():
        raise ValidationFailed(
            _(
                "effective_on: %(day)s is in the past: a list applies from its day on, never to "
                "days already valued"
            )
            % {"day": day.isoformat()},
            extra={"field": "effective_on"},
        )
    return day


def exchange_list_import(
    *,
    exchange: str,
    kind: str,
    effective_on: date | str,
    file_name: str,
    content: str | bytes,
    actor,
    reason: str,
) -> tuple[ExchangeListImport, bool]:
    """Import one exchange list file; returns (the import, created). The same file (SHA-256)
    for the same exchange, kind and day returns the first import, created False."""
    require_permission(actor, IMPORT_PERMISSION, action="import an exchange list")
    reason = reason_required(reason)
    if exchange not in Exchange.values:
        raise ValidationFailed(
            _("exchange: %(exchange)s is not one of %(values)s")
            % {"exchange": repr(exchange), "values": ", ".join(Exchange.values)},
            extra={"field": "exchange"},
        )
    if kind not in ExchangeListKind.values:
        raise ValidationFailed(
            _("kind: %(kind)s is not one of %(values)s")
            % {"kind": repr(kind), "values": ", ".join(ExchangeListKind.values)},
            extra={"field": "kind"},
        )
    day = _effective_on(effective_on)
    name = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise ValidationFailed(_("file_name: name the source file"), extra={"field": "file_name"})
    if len(name) > 200:
        raise ValidationFailed(_("file_name: at most 200 characters"), extra={"field": "file_name"})
    text, raw = _decoded(content)
    digest = hashlib.sha256(raw).hexdigest()
    same = {"exchange": exchange, "kind": kind, "effective_on": day, "sha256": digest}
    existing = ExchangeListImport.objects.filter(**same).first()
    if existing is not None:
        return existing, False
    lines = _parsed(text, exchange=exchange, kind=kind)
    known = dict(Instrument.objects.filter(exchange=exchange).values_list("code", "pk"))
    unknown = [line.code for line in lines if line.code not in known]
    list_import = ExchangeListImport(
        **same,
        file_name=name,
        content=text,
        row_count=len(lines),
        unknown_codes=unknown,
        imported_by=actor,
        imported_at=timezone.now(),
        reason=reason,
    )
    stamp(
        list_import,
        actor=actor,
        reason=f"{exchange} {kind} list from {day.isoformat()}, {name} ({len(lines)} rows, "
        f"{len(unknown)} unknown): {reason}",
    )
    try:
        with transaction.atomic():
            list_import.save()
            ExchangeListEntry.objects.bulk_create(
                [
                    ExchangeListEntry(
                        list_import=list_import,
                        line=line.line,
                        code=line.code,
                        instrument_id=known.get(line.code),
                        conversion_rate=line.rate,
                    )
                    for line in lines
                ],
                batch_size=2000,
            )
    except IntegrityError:  # the same file imported meanwhile by another request
        existing = ExchangeListImport.objects.filter(**same).first()
        if existing is None:
            raise
        return existing, False
    return list_import, True


# --- reads ------------------------------------------------------------------------------------


def collateral_rate_sql(instrument: str, day: str = "%s") -> str:
    """A scalar SQL expression: the conversion rate of the instrument aliased `instrument` on
    its exchange's eligible-collateral list in force on a day (ONE parameter: the day, written
    `day`: a positional "%s" or a named "%(day)s" placeholder); 0 when the list in force leaves
    it out; NULL when no list of its exchange is in force (the desk's haircut stands alone)."""
    return (
        "(SELECT coalesce(xe.conversion_rate, 0) FROM lending_exchangelistimport xl "  # noqa: S608 (an alias and a constant; the day is a parameter)
        "LEFT JOIN lending_exchangelistentry xe ON xe.list_import_id = xl.id "
        f"AND xe.instrument_id = {instrument}.id "
        f"WHERE xl.exchange = {instrument}.exchange "
        f"AND xl.kind = '{ExchangeListKind.ELIGIBLE_COLLATERAL.value}' "
        f"AND xl.effective_on <= {day} "
        "ORDER BY xl.effective_on DESC, xl.id DESC LIMIT 1)"
    )


def list_in_force(exchange: str, kind: str, on: date) -> ExchangeListImport | None:
    """The import in force for an exchange and kind on `on`, or None (none imported yet)."""
    return (
        ExchangeListImport.objects.filter(exchange=exchange, kind=kind, effective_on__lte=on)
        .order_by("-effective_on", "-pk")
        .first()
    )


def lists_in_force(on: date) -> dict[tuple[str, str], ExchangeListImport]:
    """{(exchange, kind): import in force on `on`} (one query)."""
    rows = (
        ExchangeListImport.objects.filter(effective_on__lte=on)
        .defer("content")
        .order_by("exchange", "kind", "-effective_on", "-pk")
        .distinct("exchange", "kind")
    )
    return {(row.exchange, row.kind): row for row in rows}


def exchange_rates(instrument_ids, on: date) -> dict[int, Decimal | None]:
    """{instrument id: conversion rate in force on `on`} (None: no list of its exchange in
    force; 0: off the list), in one statement."""
    ids = sorted({int(pk) for pk in instrument_ids})
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.id, {collateral_rate_sql('i')} FROM lending_instrument i "  # noqa: S608
            "WHERE i.id = ANY(%s)",
            [on, ids],
        )
        return dict(cursor.fetchall())


def exchange_rate_in_force(instrument: Instrument, on: date) -> Decimal | None:
    return exchange_rates([instrument.pk], on).get(instrument.pk)


@dataclass(frozen=True)
class TargetStatus:
    """Whether an instrument may get new financing by its exchange's financing target list on
    a day: `list_import` None when no list is in force (the desk's flag stands alone)."""

    list_import: ExchangeListImport | None
    listed: bool

    @property
    def allowed(self) -> bool:
        return self.list_import is None or self.listed


def target_status(instrument: Instrument, on: date) -> TargetStatus:
    """Two small reads: the target list in force, then whether it names the instrument."""
    in_force = list_in_force(instrument.exchange, ExchangeListKind.FINANCING_TARGET, on)
    if in_force is None:
        return TargetStatus(None, True)
    listed = in_force.entries.filter(instrument_id=instrument.pk).exists()
    return TargetStatus(in_force, listed)


def on_target_lists(instruments, on: date) -> dict[int, bool]:
    """{instrument id: may get new financing by its exchange's target list on `on`} for a
    page's instruments: two queries whatever their number."""
    instruments = list(instruments)
    in_force = {
        exchange: row
        for (exchange, kind), row in lists_in_force(on).items()
        if kind == ExchangeListKind.FINANCING_TARGET
    }
    listed = (
        set(
            ExchangeListEntry.objects.filter(
                list_import__in=list(in_force.values()),
                instrument_id__in=[i.pk for i in instruments if i.exchange in in_force],
            ).values_list("instrument_id", flat=True)
        )
        if in_force
        else set()
    )
    return {i.pk: i.exchange not in in_force or i.pk in listed for i in instruments}


def on_target_list(instrument: Instrument, on: date) -> bool:
    """True when the instrument may get new financing by the exchange's target list on `on`
    (on the list in force, or no list in force)."""
    return target_status(instrument, on).allowed


def target_list_check(instrument: Instrument, on: date) -> None:
    """RuleViolation (code `not_on_target_list`) when the exchange's financing target list in
    force on `on` leaves the instrument out: no new financing. Own-cash buys and sales do not
    call it."""
    status = target_status(instrument, on)
    if status.allowed:
        return
    in_force = status.list_import
    raise RuleViolation(
        _(
            "instrument: %(instrument)s is not on the %(exchange)s financing target list in "
            "force (from %(on)s, file %(file)s): no new financing"
        )
        % {
            "instrument": instrument.ledger_unit,
            "exchange": in_force.exchange,
            "on": in_force.effective_on.isoformat(),
            "file": in_force.file_name,
        },
        code="not_on_target_list",
        extra={
            "field": "instrument",
            "instrument": instrument.ledger_unit,
            "rule": "financing_target_list",
            "list_import": in_force.pk,
            "effective_on": in_force.effective_on.isoformat(),
            "file_name": in_force.file_name,
            "sha256": in_force.sha256,
        },
    )


def imports(*, exchange: str = "", kind: str = ""):
    """The imports, newest first (without their file content), for the pages and the API."""
    qs = ExchangeListImport.objects.defer("content").select_related("imported_by")
    if exchange:
        qs = qs.filter(exchange=exchange)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-effective_on", "-pk")
