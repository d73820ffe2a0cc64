"""Every write to filings and statements. Each state change records the actor and a reason
in simple-history; generation runs in a Celery task (reports/tasks.py) that calls
`filing_generate` / `statement_generate` with an id, so a redelivered task is harmless.

Four-eyes: the user who prepared a filing (requested or regenerated it) cannot approve it.
Submitted filings are immutable: every service refuses them here, and PostgreSQL refuses
any UPDATE or DELETE of their row (see reports/models.py).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import change_reason, stamp
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.second_factor import require_second_factor

from . import canonical, kinds, render, statements
from .models import (
    ClientStatement,
    Filing,
    FilingStatus,
    StatementRun,
    StatementRunStatus,
    StatementStatus,
)

logger = logging.getLogger(__name__)

# Daily filings are taken at 17:00 desk time: after the close (15:00) and custody's
# end-of-day postings. The beat entry in config/settings.py runs a little after this.
DAILY_CUTOFF = time(17, 0)
EDITABLE_BY_REGENERATION = (FilingStatus.PREPARED, FilingStatus.FAILED, FilingStatus.APPROVED)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("reason: a reason is required"), extra={"field": "reason"})
    return reason


def _lock(filing_id: int) -> Filing:
    return Filing.objects.select_for_update(of=("self",)).get(pk=filing_id)


def _refuse_submitted(filing: Filing, action: str) -> None:
    if filing.status == FilingStatus.SUBMITTED:
        raise RuleViolation(
            _(
                "%(action)s: filing %(pk)s was submitted and can no longer change; file a "
                "correction (a new version) instead"
            )
            % {"action": action, "pk": filing.pk},
            code="filing_submitted",
            extra={"filing": filing.pk},
        )


def _enqueue(task_name: str, object_id: int) -> None:
    from . import tasks

    task = getattr(tasks, task_name)
    queue = getattr(settings, "REPORTS_TASK_QUEUE", None)
    options = {"queue": queue} if queue else {}
    transaction.on_commit(lambda: task.apply_async(args=[object_id], **options))


def daily_as_of(day: date | None = None) -> datetime:
    day = day or timezone.localdate()
    return timezone.make_aware(datetime.combine(day, DAILY_CUTOFF))


def _validate_as_of(as_of: datetime) -> datetime:
    if not isinstance(as_of, datetime) or timezone.is_naive(as_of):
        raise ValidationFailed(
            _("as_of: an as-of time with a time zone is required"), extra={"field": "as_of"}
        )
    if as_of > timezone.now():
        raise ValidationFailed(
            _("as_of: a filing can only be taken of the past (the data must not change after it)"),
            extra={"field": "as_of"},
        )
    return as_of


# --- filings: request, regenerate, correct -------------------------------------------------


def filing_request(
    *,
    kind: str,
    as_of: datetime,
    actor,
    reason: str = "filing requested",
    language: str | None = None,
) -> Filing:
    """Queue a new filing (version 1) of `kind` at `as_of`; generation runs in a task.
    actor=None is the end-of-day schedule."""
    require_permission(actor, "reports.add_filing", action="request a filing")
    spec = kinds.kind_get(kind)
    as_of = _validate_as_of(as_of)
    language = language or settings.LANGUAGE_CODE
    if language not in dict(settings.LANGUAGES):
        raise ValidationFailed(
            _("language: %(language)s is not offered") % {"language": repr(language)},
            extra={"field": "language"},
        )
    existing = Filing.objects.filter(kind=spec.code, as_of=as_of).order_by("-version").first()
    if existing is not None:
        raise Conflict(
            _(
                "as_of: a %(code)s filing at %(as_of)s already exists (#%(pk)s, %(status)s); "
                "regenerate it or file a correction"
            )
            % {
                "code": spec.code,
                "as_of": as_of.isoformat(),
                "pk": existing.pk,
                "status": existing.get_status_display(),
            },
            code="filing_exists",
            extra={"field": "as_of", "filing": existing.pk},
        )
    filing = Filing(kind=spec.code, as_of=as_of, language=language, prepared_by=actor, version=1)
    stamp(filing, actor=actor, reason=reason or "filing requested")
    try:
        with transaction.atomic():
            filing.save()
            _enqueue("filing_generate", filing.pk)
    except IntegrityError as exc:
        raise Conflict(
            _("as_of: a %(code)s filing at %(as_of)s was just requested")
            % {"code": spec.code, "as_of": as_of.isoformat()},
            code="filing_exists",
            extra={"field": "as_of"},
        ) from exc
    return filing


def filing_regenerate(*, filing: Filing, actor, reason: str) -> Filing:
    """Build a not-yet-submitted filing again (after a data fix, or a failure). Any approval
    is withdrawn and the regenerating user becomes its preparer (four-eyes applies to them)."""
    require_permission(actor, "reports.change_filing", action="regenerate a filing")
    reason = _reason(reason)
    with transaction.atomic():
        filing = _lock(filing.pk)
        _refuse_submitted(filing, "regenerate")
        if filing.status not in EDITABLE_BY_REGENERATION:
            raise Conflict(
                _("status: filing %(pk)s is %(status)s; it is already being generated")
                % {"pk": filing.pk, "status": filing.get_status_display()},
                code="filing_busy",
                extra={"field": "status"},
            )
        filing.status = FilingStatus.QUEUED
        filing.progress = 0
        filing.progress_note = ""
        filing.error = ""
        filing.prepared_by = actor
        filing.approved_by = None
        filing.approved_at = None
        stamp(filing, actor=actor, reason=f"regenerate: {reason}")
        filing.save()
        _enqueue("filing_generate", filing.pk)
    return filing


def filing_correct(*, filing: Filing, actor, reason: str) -> Filing:
    """A correction of a submitted filing: a new version that references the one it replaces.
    The submitted filing itself stays exactly as submitted."""
    require_permission(actor, "reports.add_filing", action="correct a filing")
    reason = _reason(reason)
    kinds.kind_get(filing.kind)
    with transaction.atomic():
        original = Filing.objects.select_for_update(of=("self",)).get(pk=filing.pk)
        if original.status != FilingStatus.SUBMITTED:
            raise RuleViolation(
                _(
                    "status: only a submitted filing is corrected by a new version; filing "
                    "%(pk)s is %(status)s (regenerate it instead)"
                )
                % {"pk": original.pk, "status": original.get_status_display()},
                code="filing_not_submitted",
                extra={"field": "status"},
            )
        if Filing.objects.filter(replaces=original).exists():
            raise Conflict(
                _("filing %(pk)s already has a correction; correct the newest version")
                % {"pk": original.pk},
                code="filing_already_corrected",
                extra={"filing": original.replaced_by.pk},
            )
        correction = Filing(
            kind=original.kind,
            as_of=original.as_of,
            language=original.language,
            version=original.version + 1,
            replaces=original,
            prepared_by=actor,
        )
        stamp(correction, actor=actor, reason=f"correction of #{original.pk}: {reason}")
        correction.save()
        _enqueue("filing_generate", correction.pk)
    return correction


# --- filings: generation (runs in the worker) ----------------------------------------------


def _progress(filing: Filing, percent: int, note: str) -> None:
    # Progress ticks are committed at once (the API shows them) and leave no history row;
    # progress fields are excluded from history (reports/models.py).
    filing.progress = percent
    filing.progress_note = note
    filing.skip_history_when_saving = True
    try:
        filing.save(update_fields=["progress", "progress_note"])
    finally:
        del filing.skip_history_when_saving


def filing_snapshot(*, kind: str, as_of: datetime) -> dict:
    """The data snapshot of a filing: the same (kind, as_of) always gives the same dict."""
    spec = kinds.kind_get(kind)
    return {
        "kind": spec.code,
        "schema": spec.schema,
        "as_of": as_of,
        "desk": {"name": settings.DESK_NAME, "license": settings.DESK_LICENSE},
        "data": spec.build(as_of),
    }


def _file_name(filing: Filing, extension: str) -> str:
    return f"{filing.kind}-{filing.as_of:%Y%m%d-%H%M%S}-v{filing.version}.{extension}"


def filing_generate(*, filing_id: int) -> Filing:
    """Build, render and store one filing. Re-checks the state under a lock first, so a
    redelivered task (or a task for a filing regenerated meanwhile) does nothing harmful."""
    with transaction.atomic():
        filing = _lock(filing_id)
        if filing.status not in (FilingStatus.QUEUED, FilingStatus.GENERATING):
            return filing
        filing.status = FilingStatus.GENERATING
        filing.progress = 5
        filing.progress_note = "started"
        stamp(filing, actor=None, reason="generation started")
        filing.save()
    try:
        _progress(filing, 10, "building data snapshot")
        spec = kinds.kind_get(filing.kind)
        snapshot = filing_snapshot(kind=filing.kind, as_of=filing.as_of)
        json_bytes = canonical.to_json_bytes(snapshot)
        csv_bytes = canonical.to_csv_bytes(snapshot)
        data_sha256 = canonical.sha256_hex(json_bytes)
        _progress(filing, 40, "rendering PDF")
        html = render.filing_html(
            kind=spec,
            snapshot=snapshot,
            data_sha256=data_sha256,
            version=filing.version,
            language=filing.language,
        )
        pdf = render.pdf_bytes(html)
        _progress(filing, 80, "storing files")
    except Exception as exc:
        logger.exception("filing %s generation failed", filing_id)
        return _filing_failed(filing_id, f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        filing = _lock(filing_id)
        if filing.status != FilingStatus.GENERATING:
            return filing  # regenerated meanwhile: that run stores its own result
        for field, extension, content in (
            ("pdf_file", "pdf", pdf),
            ("json_file", "json", json_bytes),
            ("csv_file", "csv", csv_bytes),
        ):
            getattr(filing, field).save(
                _file_name(filing, extension), ContentFile(content), save=False
            )
        filing.data_sha256 = data_sha256
        filing.json_sha256 = data_sha256  # the JSON file is the canonical snapshot itself
        filing.csv_sha256 = canonical.sha256_hex(csv_bytes)
        filing.pdf_sha256 = canonical.sha256_hex(pdf)
        filing.status = FilingStatus.PREPARED
        filing.progress = 100
        filing.progress_note = "prepared"
        filing.generated_at = timezone.now()
        stamp(filing, actor=None, reason=f"generated; data SHA-256 {data_sha256}")
        filing.save()
    return filing


def _filing_failed(filing_id: int, message: str) -> Filing:
    with transaction.atomic():
        filing = _lock(filing_id)
        if filing.status != FilingStatus.GENERATING:
            return filing
        filing.status = FilingStatus.FAILED
        filing.error = message[:4000]
        filing.progress_note = "failed"
        stamp(filing, actor=None, reason="generation failed")
        filing.save()
    return filing


# --- filings: four-eyes approval and submission --------------------------------------------


def _verify_files(filing: Filing) -> None:
    """The stored files must still be the ones generated (hashes kept on the record)."""
    for field, digest in (
        ("pdf_file", filing.pdf_sha256),
        ("json_file", filing.json_sha256),
        ("csv_file", filing.csv_sha256),
    ):
        stored = getattr(filing, field)
        if not stored or not digest:
            raise Conflict(
                _("%(field)s: filing %(pk)s has no stored %(field)s")
                % {"field": field, "pk": filing.pk},
                code="file_missing",
            )
        with stored.open("rb") as handle:
            actual = canonical.sha256_hex(handle.read())
        if actual != digest:
            raise Conflict(
                _(
                    "%(field)s: the stored file of filing %(pk)s does not match its SHA-256 "
                    "(kept %(kept)s, found %(found)s); regenerate it"
                )
                % {"field": field, "pk": filing.pk, "kept": digest, "found": actual},
                code="file_altered",
                extra={"field": field},
            )


def filing_approve(*, filing: Filing, actor, reason: str) -> Filing:
    require_permission(actor, "reports.approve_filing", action="approve a filing")
    require_second_factor(actor, action="approving a filing")
    reason = _reason(reason)
    with transaction.atomic():
        filing = _lock(filing.pk)
        _refuse_submitted(filing, "approve")
        if filing.status != FilingStatus.PREPARED:
            raise RuleViolation(
                _("status: only a prepared filing can be approved; filing %(pk)s is %(status)s")
                % {"pk": filing.pk, "status": filing.get_status_display()},
                code="filing_not_prepared",
                extra={"field": "status"},
            )
        if filing.prepared_by_id is not None and filing.prepared_by_id == actor.pk:
            raise RuleViolation(
                _("approve: four-eyes rule: the officer who prepared a filing cannot approve it"),
                code="four_eyes",
                extra={"prepared_by": filing.prepared_by_id},
            )
        _verify_files(filing)
        filing.status = FilingStatus.APPROVED
        filing.approved_by = actor
        filing.approved_at = timezone.now()
        stamp(filing, actor=actor, reason=f"approved: {reason}")
        filing.save()
    return filing


def filing_submit(*, filing: Filing, actor, reason: str, submission_reference: str = "") -> Filing:
    """Record that the approved filing went to the regulator. From here it never changes."""
    require_permission(actor, "reports.submit_filing", action="submit a filing")
    require_second_factor(actor, action="submitting a filing")
    reason = _reason(reason)
    with transaction.atomic():
        filing = _lock(filing.pk)
        _refuse_submitted(filing, "submit")
        if filing.status != FilingStatus.APPROVED:
            raise RuleViolation(
                _("status: only an approved filing can be submitted; filing %(pk)s is %(status)s")
                % {"pk": filing.pk, "status": filing.get_status_display()},
                code="filing_not_approved",
                extra={"field": "status"},
            )
        _verify_files(filing)
        filing.status = FilingStatus.SUBMITTED
        filing.submitted_by = actor
        filing.submitted_at = timezone.now()
        filing.submission_reference = submission_reference.strip()[:120]
        stamp(filing, actor=actor, reason=f"submitted: {reason}")
        filing.save()
    return filing


def filings_prepare_daily(*, day: date | None = None) -> list[Filing]:
    """End of day: queue every daily kind that can be built, once per as-of time."""
    as_of = daily_as_of(day)
    created = []
    for spec in kinds.kinds_all():
        if not (spec.daily and spec.available):
            continue
        if Filing.objects.filter(kind=spec.code, as_of=as_of).exists():
            continue
        try:
            created.append(
                filing_request(
                    kind=spec.code, as_of=as_of, actor=None, reason="end-of-day schedule"
                )
            )
        except Conflict:
            continue  # a concurrent run queued it first
    return created


# --- client statements ---------------------------------------------------------------------
#
# A month's statements for the whole book are a StatementRun (reports/models.py):
#
# * statement_run_start inserts every statement of the month in one INSERT ... SELECT (the
#   investors onboarded by the period's end: created by then, with a profile history row that
#   stands at the end of the period, as reports.selectors.investor_as_of reads it; investors
#   who already have that month's statement are skipped), their history rows in one INSERT
#   ... SELECT, then, on commit, one dispatch task;
# * the dispatch task (statement_run_dispatch) sends one chunk task per `chunk_size` queued
#   statements of the run: a message per chunk, not per account, nor one task for the book;
# * a chunk (statements_generate_chunk) takes its statements (QUEUED -> GENERATING, one
#   statement for the chunk with its history rows), builds their snapshots set-based
#   (reports.statements.build_statements: a fixed number of queries per chunk), then renders
#   and stores each statement in its own transaction (READY, or FAILED with its error: one
#   failure does not spoil the chunk), and adds its outcome to the run's counters;
# * the chunk that finds no statement of the run left to do closes the run: counters recounted
#   from the statements' statuses (one aggregate), status DONE or DONE_WITH_FAILURES;
# * statement_run_retry_failed puts the FAILED statements of a finished run back to QUEUED
#   (one UPDATE with their history rows) and dispatches them again; the others are untouched.
#
# A statement is stored once: storing re-checks under the row lock that it is still
# GENERATING, so a redelivered chunk (acks_late) or a second task for the same statement finds
# it READY and leaves it alone.

#: Statements per chunk task. A chunk shares its snapshot queries, so larger chunks read less
#: per statement; at about 10 statements a second per worker a chunk of 25 is ~2.5 s of work,
#: short enough that work spreads evenly over the workers and a redelivery redoes little
#: (bench/eod/statements.py).
STATEMENT_CHUNK = 25
MAX_STATEMENT_CHUNK = 1000

ACTIVE_STATEMENT = (StatementStatus.QUEUED, StatementStatus.GENERATING)


def _finished_month(year, month) -> tuple[date, date]:
    """The month's first and last day; refused unless it is a month, and over."""
    try:
        period_start, period_end = statements.period_for(int(year), int(month))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            _("month: %(year)s-%(month)s is not a month") % {"year": year, "month": month},
            extra={"field": "month"},
        ) from exc
    if period_end >= timezone.localdate():
        raise RuleViolation(
            _("month: %(month)s is not over yet; a statement covers a finished month")
            % {"month": f"{period_start:%Y-%m}"},
            code="period_not_over",
            extra={"field": "month"},
        )
    return period_start, period_end


def last_month() -> tuple[int, int]:
    """(year, month) of the month before today's (desk time)."""
    previous = timezone.localdate().replace(day=1) - timedelta(days=1)
    return previous.year, previous.month


def _enqueue_task(task_name: str, *args) -> None:
    from . import tasks

    task = getattr(tasks, task_name)
    queue = getattr(settings, "REPORTS_TASK_QUEUE", None)
    options = {"queue": queue} if queue else {}
    transaction.on_commit(lambda: task.apply_async(args=list(args), **options))


def statement_request(
    *, investor, year: int, month: int, actor, reason: str = ""
) -> ClientStatement:
    """Queue one investor's statement for a finished month (actor=None: monthly schedule).
    A statement made this way belongs to no run."""
    require_permission(actor, "reports.add_filing", action="request a statement")
    period_start, period_end = _finished_month(year, month)
    from . import selectors

    if (
        selectors.investor_as_of(investor_id=investor.pk, as_of=statements.period_as_of(period_end))
        is None
    ):
        raise RuleViolation(
            _("month: investor %(pk)s was not onboarded by the end of %(month)s")
            % {"pk": investor.pk, "month": f"{period_start:%Y-%m}"},
            code="not_a_client_then",
            extra={"field": "month"},
        )
    with transaction.atomic():
        statement = (
            ClientStatement.objects.select_for_update(of=("self",))
            .filter(investor=investor, period_start=period_start)
            .first()
        )
        if statement is not None and statement.status != StatementStatus.FAILED:
            raise Conflict(
                _("month: the %(month)s statement of investor %(pk)s exists (%(status)s)")
                % {
                    "month": f"{period_start:%Y-%m}",
                    "pk": investor.pk,
                    "status": statement.get_status_display(),
                },
                code="statement_exists",
                extra={"statement": statement.pk},
            )
        if statement is None:
            statement = ClientStatement(
                investor=investor,
                period_start=period_start,
                period_end=period_end,
                as_of=statements.period_as_of(period_end),
                language=settings.LANGUAGE_CODE,
            )
        statement.status = StatementStatus.QUEUED
        statement.error = ""
        statement.progress = 0
        statement.requested_by = actor
        stamp(statement, actor=actor, reason=reason or "statement requested")
        statement.save()
        if statement.run_id is not None:
            _run_reopen(statement.run_id, actor=actor, reason=f"statement {statement.pk} again")
        _enqueue("statement_generate", statement.pk)
    return statement


def statement_generate(*, statement_id: int) -> ClientStatement:
    """Build, render and store one statement (a chunk of one)."""
    statements_generate_chunk(statement_ids=[statement_id])
    return ClientStatement.objects.get(pk=statement_id)


# --- client statements: a month's run ------------------------------------------------------


def _statement_history_sql() -> tuple[str, str]:
    """(target columns, source columns of `t`) of the statements' history rows."""
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(ClientStatement)
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    target = ", ".join(
        [*tracked, "history_date", "history_change_reason", "history_user_id", "history_type"]
    )
    return target, ", ".join(f"t.{c}" for c in tracked)


def _statements_history_insert(cursor, *, ids_sql: str, params: dict, kind: str) -> int:
    """One history row per statement selected by `ids_sql` (a condition on `t`), its tracked
    columns copied from the row as it now is in this transaction; user, reason and date as
    parameters (`user`, `reason`, `now`): the project's bulk history (accounts.bulk)."""
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(ClientStatement)
    target, source = _statement_history_sql()
    qn = connection.ops.quote_name
    cursor.execute(
        # identifiers from the models' meta, quoted; every value is a parameter
        f"INSERT INTO {qn(history._meta.db_table)} ({target}) "  # noqa: S608
        f"SELECT {source}, %(now)s, %(reason)s, %(user)s, %(kind)s "
        f"FROM {qn(ClientStatement._meta.db_table)} t WHERE {ids_sql} ORDER BY t.id",
        {**params, "kind": kind},
    )
    return cursor.rowcount


#: The month's statements of every investor onboarded by the period's end: created by then
#: (selectors.investors_onboarded_by) and with a profile as it stood then (the latest history
#: row at as_of is not a deletion: selectors.investor_as_of), without that month's statement.
_STATEMENTS_INSERT = """
INSERT INTO reports_clientstatement
    (run_id, investor_id, period_start, period_end, as_of, language, status, progress, error,
     data_sha256, pdf_file, pdf_sha256, requested_by_id, requested_at, generated_at)
SELECT %(run)s, p.id, %(start)s, %(end)s, %(as_of)s, %(language)s, %(queued)s, 0, '', '', '',
       '', %(user)s, %(now)s, NULL
FROM accounts_investorprofile p
WHERE p.created_at <= %(as_of)s
  AND (SELECT h.history_type FROM accounts_historicalinvestorprofile h
        WHERE h.id = p.id AND h.history_date <= %(as_of)s
        ORDER BY h.history_date DESC, h.history_id DESC LIMIT 1) IN ('+', '~')
  AND NOT EXISTS (SELECT 1 FROM reports_clientstatement s
                   WHERE s.investor_id = p.id AND s.period_start = %(start)s)
ORDER BY p.id
ON CONFLICT (investor_id, period_start) DO NOTHING
"""


def statement_run_start(
    *,
    year: int,
    month: int,
    actor,
    reason: str = "",
    chunk_size: int | None = None,
) -> StatementRun:
    """Start a finished month's statements for the book: one run per month. Inserts every
    statement (set-based, with history rows) and queues their rendering in chunks.
    actor=None is the monthly schedule."""
    require_permission(actor, "reports.add_filing", action="start a month's statements")
    period_start, period_end = _finished_month(year, month)
    size = STATEMENT_CHUNK if chunk_size is None else int(chunk_size)
    if not 1 <= size <= MAX_STATEMENT_CHUNK:
        raise ValidationFailed(
            _("chunk_size: between 1 and %(most)s statements per task")
            % {"most": MAX_STATEMENT_CHUNK},
            extra={"field": "chunk_size"},
        )
    existing = StatementRun.objects.filter(period_start=period_start).first()
    if existing is not None:
        raise Conflict(
            _(
                "month: the statements of %(month)s were started already (run %(pk)s, "
                "%(status)s); retry its failed statements instead"
            )
            % {
                "month": f"{period_start:%Y-%m}",
                "pk": existing.pk,
                "status": existing.get_status_display(),
            },
            code="statement_run_exists",
            extra={"field": "month", "run": existing.pk},
        )
    reason = (reason or "").strip() or (
        "monthly schedule" if actor is None else "month's statements requested"
    )
    as_of = statements.period_as_of(period_end)
    now = timezone.now()
    try:
        with transaction.atomic():
            run = StatementRun(
                period_start=period_start,
                period_end=period_end,
                as_of=as_of,
                chunk_size=size,
                requested_by=actor,
            )
            stamp(run, actor=actor, reason=reason)
            run.save()
            params = {
                "run": run.pk,
                "start": period_start,
                "end": period_end,
                "as_of": as_of,
                "language": settings.LANGUAGE_CODE,
                "queued": StatementStatus.QUEUED,
                "user": getattr(actor, "pk", None),
                "now": now,
                "reason": change_reason(actor=actor, reason=f"statement run {run.pk}: {reason}"),
            }
            with connection.cursor() as cursor:
                cursor.execute(_STATEMENTS_INSERT, params)
                count = cursor.rowcount
                written = _statements_history_insert(
                    cursor, ids_sql="t.run_id = %(run)s", params=params, kind="+"
                )
            if written != count:
                raise RuntimeError(f"statement run {run.pk}: {written} history rows for {count}")
            run.accounts = run.queued = count
            if count == 0:
                run.status = StatementRunStatus.DONE
                run.started_at = run.finished_at = now
            stamp(
                run,
                actor=actor,
                reason=f"{count} statements queued"
                if count
                else "no investor to send a statement to",
            )
            run.save()
            if count:
                _enqueue_task("statement_run_dispatch", run.pk)
    except IntegrityError as exc:
        raise Conflict(
            _("month: the statements of %(month)s were just started")
            % {"month": f"{period_start:%Y-%m}"},
            code="statement_run_exists",
            extra={"field": "month"},
        ) from exc
    return run


def statement_run_dispatch(*, run_id: int) -> int:
    """Worker side: one chunk task per `chunk_size` QUEUED statements of the run (in investor
    order); the run becomes RUNNING. Returns the chunks sent."""
    from . import tasks

    with transaction.atomic():
        run = StatementRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        if run.status in (StatementRunStatus.QUEUED,):
            run.status = StatementRunStatus.RUNNING
            run.started_at = run.started_at or timezone.now()
            stamp(run, actor=None, reason="rendering started")
            run.save()
    ids = list(
        ClientStatement.objects.filter(run_id=run_id, status=StatementStatus.QUEUED)
        .order_by("investor_id")
        .values_list("pk", flat=True)
    )
    queue = getattr(settings, "REPORTS_TASK_QUEUE", None)
    options = {"queue": queue} if queue else {}
    size = run.chunk_size or STATEMENT_CHUNK
    chunks = 0
    for start in range(0, len(ids), size):
        tasks.statements_generate_chunk.apply_async(args=[ids[start : start + size]], **options)
        chunks += 1
    if not ids:
        statement_run_close(run_id=run_id)
    return chunks


def statement_run_retry_failed(*, run: StatementRun, actor, reason: str = "") -> StatementRun:
    """Queue the FAILED statements of a finished run again (each goes back to QUEUED, with a
    history row; READY ones are untouched) and render them in chunks."""
    require_permission(actor, "reports.add_filing", action="retry failed statements")
    reason = (reason or "").strip() or "retry failed statements"
    with transaction.atomic():
        run = StatementRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
        if run.status not in (StatementRunStatus.DONE, StatementRunStatus.DONE_WITH_FAILURES):
            raise RuleViolation(
                _(
                    "status: run %(pk)s is %(status)s; retry its failed statements once it has "
                    "finished"
                )
                % {"pk": run.pk, "status": run.get_status_display()},
                code="statement_run_busy",
                extra={"field": "status", "run": run.pk},
            )
        params = {
            "run": run.pk,
            "failed": StatementStatus.FAILED,
            "queued": StatementStatus.QUEUED,
            "user": getattr(actor, "pk", None),
            "now": timezone.now(),
            "reason": change_reason(actor=actor, reason=f"retry: {reason}"),
        }
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reports_clientstatement SET status = %(queued)s, error = '', progress = 0 "
                "WHERE run_id = %(run)s AND status = %(failed)s RETURNING id",
                params,
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                raise RuleViolation(
                    _("run: run %(pk)s has no failed statement to retry") % {"pk": run.pk},
                    code="nothing_to_retry",
                    extra={"run": run.pk},
                )
            _statements_history_insert(
                cursor, ids_sql="t.id = ANY(%(ids)s)", params={**params, "ids": ids}, kind="~"
            )
        run.status = StatementRunStatus.RUNNING
        run.finished_at = None
        _run_recount(run)
        stamp(run, actor=actor, reason=f"retry of {len(ids)} failed statements: {reason}")
        run.save()
        _enqueue_task("statement_run_dispatch", run.pk)
    return run


def _run_recount(run: StatementRun) -> None:
    """The run's counters from its statements' statuses: one aggregate (not saved here)."""
    counts = dict(
        ClientStatement.objects.filter(run_id=run.pk)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    run.ready = counts.get(StatementStatus.READY, 0)
    run.failed = counts.get(StatementStatus.FAILED, 0)
    run.queued = sum(counts.get(s, 0) for s in ACTIVE_STATEMENT)
    run.accounts = sum(counts.values())


def _run_reopen(run_id: int, *, actor, reason: str) -> None:
    """A statement of the run queued again: the run is RUNNING until it is done (in the
    caller's transaction)."""
    run = StatementRun.objects.select_for_update(of=("self",)).get(pk=run_id)
    run.status = StatementRunStatus.RUNNING
    run.finished_at = None
    _run_recount(run)
    stamp(run, actor=actor, reason=reason)
    run.save()


def _run_counts_add(run_id: int, *, ready: int = 0, failed: int = 0, queued: int = 0) -> None:
    """Progress: add a chunk's outcome to the run's counters, saved without a history row
    (progress fields are excluded from the run's history, as a filing's progress is).
    Recounted exactly from the statuses when the run closes."""
    if not (ready or failed or queued):
        return
    run = StatementRun(pk=run_id)
    run.ready = Greatest(F("ready") + ready, 0)
    run.failed = Greatest(F("failed") + failed, 0)
    run.queued = Greatest(F("queued") + queued, 0)
    run.skip_history_when_saving = True
    run.save(update_fields=["ready", "failed", "queued"])


def statement_run_close(*, run_id: int) -> StatementRun:
    """Close the run when none of its statements is left to do: counters recounted from the
    statuses, DONE or DONE_WITH_FAILURES. Called by the chunk that finishes last (a chunk
    finding work left does nothing); harmless when repeated."""
    with transaction.atomic():
        run = StatementRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        if run.status in (StatementRunStatus.DONE, StatementRunStatus.DONE_WITH_FAILURES):
            return run
        if ClientStatement.objects.filter(run_id=run_id, status__in=ACTIVE_STATEMENT).exists():
            return run
        _run_recount(run)
        run.status = (
            StatementRunStatus.DONE_WITH_FAILURES if run.failed else StatementRunStatus.DONE
        )
        run.finished_at = timezone.now()
        stamp(
            run,
            actor=None,
            reason=f"finished: {run.ready} ready, {run.failed} failed of {run.accounts}",
        )
        run.save()
    return run


def _statements_take(statement_ids: list[int]) -> list[ClientStatement]:
    """QUEUED (or GENERATING: a redelivered chunk) statements of the list become GENERATING:
    one UPDATE with their history rows; the others (READY, FAILED, gone) are left out."""
    params = {
        "ids": list(statement_ids),
        "generating": StatementStatus.GENERATING,
        "active": list(ACTIVE_STATEMENT),
        "user": None,
        "now": timezone.now(),
        "reason": change_reason(actor=None, reason="generation started"),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_clientstatement SET status = %(generating)s, progress = 10 "
            "WHERE id = ANY(%(ids)s) AND status = ANY(%(active)s) RETURNING id",
            params,
        )
        taken = [row[0] for row in cursor.fetchall()]
        if taken:
            _statements_history_insert(
                cursor, ids_sql="t.id = ANY(%(ids)s)", params={**params, "ids": taken}, kind="~"
            )
    return list(ClientStatement.objects.filter(pk__in=taken).order_by("investor_id"))


def _statement_failed(statement_id: int, message: str) -> bool:
    with transaction.atomic():
        statement = ClientStatement.objects.select_for_update(of=("self",)).get(pk=statement_id)
        if statement.status != StatementStatus.GENERATING:
            return False
        statement.status = StatementStatus.FAILED
        statement.error = message[:4000]
        stamp(statement, actor=None, reason="generation failed")
        statement.save()
    return True


def _statement_store(statement_id: int, *, pdf: bytes, data_sha256: str) -> bool:
    """Store the PDF once: under the row lock, only a statement still GENERATING."""
    with transaction.atomic():
        statement = ClientStatement.objects.select_for_update(of=("self",)).get(pk=statement_id)
        if statement.status != StatementStatus.GENERATING:
            return False  # stored by another delivery of the same work, or re-queued
        name = PurePosixPath(
            f"statement-{statement.investor_id}-{statement.period_start:%Y-%m}.pdf"
        ).name
        statement.pdf_file.save(name, ContentFile(pdf), save=False)
        statement.pdf_sha256 = canonical.sha256_hex(pdf)
        statement.data_sha256 = data_sha256
        statement.status = StatementStatus.READY
        statement.progress = 100
        statement.generated_at = timezone.now()
        stamp(statement, actor=None, reason=f"generated; data SHA-256 {data_sha256}")
        statement.save()
    return True


def statements_generate_chunk(*, statement_ids: list[int]) -> dict[str, int]:
    """Worker side: build, render and store the statements of one chunk (see the section's
    comment). Returns the counts: ready, failed, skipped (not QUEUED/GENERATING any more)."""
    taken = _statements_take(statement_ids)
    counts = {"ready": 0, "failed": 0, "skipped": len(set(statement_ids)) - len(taken)}
    if not taken:
        return counts
    try:
        snapshots = statements.build_statements(
            [(s.pk, s.investor_id, s.period_start, s.period_end) for s in taken]
        )
    except Exception:  # the chunk's shared reads failed: build each on its own
        logger.exception("statements %s: chunk build failed; building one by one", statement_ids)
        snapshots = {}
        for s in taken:
            try:
                snapshots[s.pk] = statements.build_statement(
                    investor_id=s.investor_id, period_start=s.period_start, period_end=s.period_end
                )
            except Exception as exc:  # recorded on the statement
                snapshots[s.pk] = exc
    per_run: dict[int, dict[str, int]] = {}
    for statement in taken:
        outcome = _statement_render_and_store(statement, snapshots.get(statement.pk))
        if outcome is None:
            continue
        counts[outcome] += 1
        if statement.run_id is not None:
            run_counts = per_run.setdefault(statement.run_id, {"ready": 0, "failed": 0})
            run_counts[outcome] += 1
    for run_id, done in per_run.items():
        _run_counts_add(run_id, queued=-(done["ready"] + done["failed"]), **done)
    for run_id in {s.run_id for s in taken if s.run_id is not None}:
        statement_run_close(run_id=run_id)
    return counts


def _statement_render_and_store(statement: ClientStatement, snapshot) -> str | None:
    """'ready' or 'failed' as stored; None when another delivery had already finished it."""
    try:
        if isinstance(snapshot, Exception):
            raise snapshot
        if snapshot is None:
            raise LookupError(f"statement {statement.pk}: no snapshot built")
        json_bytes = canonical.to_json_bytes(snapshot)
        data_sha256 = canonical.sha256_hex(json_bytes)
        html = render.statement_html(
            snapshot=snapshot, data_sha256=data_sha256, language=statement.language
        )
        pdf = render.pdf_bytes(html)
    except Exception as exc:
        logger.warning("statement %s generation failed: %s", statement.pk, exc, exc_info=True)
        failed = _statement_failed(statement.pk, f"{type(exc).__name__}: {exc}")
        return "failed" if failed else None
    return "ready" if _statement_store(statement.pk, pdf=pdf, data_sha256=data_sha256) else None


def statements_prepare_month(
    *, year: int | None = None, month: int | None = None, actor=None
) -> int:
    """Start a month's statement run (default: last month) for every investor onboarded by
    its end; existing statements are left alone. Returns the statements queued (0 when the
    month's run exists already: the monthly schedule may run twice). actor=None is the monthly
    schedule."""
    require_permission(actor, "reports.add_filing", action="request statements")
    if year is None or month is None:
        year, month = last_month()
    try:
        run = statement_run_start(year=year, month=month, actor=actor)
    except Conflict:
        return 0
    return run.accounts
