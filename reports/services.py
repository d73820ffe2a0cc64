"""Every write to filings and statements. Each state change records the actor and a reason
in simple-history; generation runs in a Celery task (reports/tasks.py) that calls
`filing_generate` / `statement_generate` with an id, so a redelivered task is harmless.

Four-eyes: the user who prepared a filing (requested or regenerated it) cannot approve it.
Submitted filings are immutable: every service refuses them here, and PostgreSQL refuses
any UPDATE or DELETE of their row (see reports/models.py).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.second_factor import require_second_factor

from . import canonical, kinds, render, statements
from .models import ClientStatement, Filing, FilingStatus, StatementStatus

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


def statement_request(
    *, investor, year: int, month: int, actor, reason: str = ""
) -> ClientStatement:
    """Queue one investor's statement for a finished month (actor=None: monthly schedule)."""
    require_permission(actor, "reports.add_filing", action="request a statement")
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
        _enqueue("statement_generate", statement.pk)
    return statement


def statement_generate(*, statement_id: int) -> ClientStatement:
    with transaction.atomic():
        statement = ClientStatement.objects.select_for_update(of=("self",)).get(pk=statement_id)
        if statement.status not in (StatementStatus.QUEUED, StatementStatus.GENERATING):
            return statement
        statement.status = StatementStatus.GENERATING
        statement.progress = 10
        stamp(statement, actor=None, reason="generation started")
        statement.save()
    try:
        snapshot = statements.build_statement(
            investor_id=statement.investor_id,
            period_start=statement.period_start,
            period_end=statement.period_end,
        )
        json_bytes = canonical.to_json_bytes(snapshot)
        data_sha256 = canonical.sha256_hex(json_bytes)
        html = render.statement_html(
            snapshot=snapshot, data_sha256=data_sha256, language=statement.language
        )
        pdf = render.pdf_bytes(html)
    except Exception as exc:
        logger.exception("statement %s generation failed", statement_id)
        with transaction.atomic():
            statement = ClientStatement.objects.select_for_update(of=("self",)).get(pk=statement_id)
            statement.status = StatementStatus.FAILED
            statement.error = f"{type(exc).__name__}: {exc}"[:4000]
            stamp(statement, actor=None, reason="generation failed")
            statement.save()
        return statement
    with transaction.atomic():
        statement = ClientStatement.objects.select_for_update(of=("self",)).get(pk=statement_id)
        if statement.status != StatementStatus.GENERATING:
            return statement
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
    return statement


def statements_prepare_month(
    *, year: int | None = None, month: int | None = None, actor=None
) -> int:
    """Queue a month's statement (default: last month) for every investor onboarded by its
    end; existing statements are left alone. actor=None is the monthly schedule."""
    from . import selectors

    require_permission(actor, "reports.add_filing", action="request statements")
    if year is None or month is None:
        first = timezone.localdate().replace(day=1)
        last_month_end = first.toordinal() - 1
        previous = date.fromordinal(last_month_end)
        year, month = previous.year, previous.month
    _start, period_end = statements.period_for(year, month)
    count = 0
    for investor in selectors.investors_onboarded_by(statements.period_as_of(period_end)):
        try:
            statement_request(
                investor=investor,
                year=year,
                month=month,
                actor=actor,
                reason="monthly schedule" if actor is None else "requested by staff",
            )
        except Conflict:
            continue
        count += 1
    return count
