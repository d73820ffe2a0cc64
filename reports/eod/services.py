"""Start, advance, resume and fail an end-of-day run (docs/eod.md, "The end-of-day chain").

The engine: starting a step (in a transaction holding the run's row lock) fixes its
parameters, raises its attempt number and, after commit, sends a Celery chord of its shard
tasks whose callback finishes the step and starts the next one. Shard tasks and callbacks
carry the attempt they belong to; a message of an older attempt (redelivered after its worker
was lost, while the step was already started again) is recognised and does nothing to the
run's state (its service call, idempotent, writes nothing twice).

A failure (a shard raising) marks the step and the run failed, keeps the error, and alerts:
an ERROR log line, an e-mail to the operations desk (EOD_ALERT_EMAILS, else every active
operations user) in both languages, and the red banner on the staff dashboard. Nothing after
the failed step runs until someone resumes the run (after mending the cause); a run without
progress (its messages lost with a worker or a Redis restart) is resumed by beat's sweeper.
Resuming starts the step the run reached, never the steps before it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, NotFound, ValidationFailed
from accounts.permissions import require_permission

from .models import EndOfDayRun, EndOfDayStatus, EndOfDayStep, EndOfDayStepStatus
from .steps import BY_NAME, STEPS

log = logging.getLogger(__name__)

FINISHED = (EndOfDayStepStatus.DONE, EndOfDayStepStatus.SKIPPED)


def _now() -> datetime:
    return timezone.now()


def stale_after() -> timedelta:
    """A running step with no sign of life for this long has lost its messages."""
    default = int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 600)) + 120
    return timedelta(seconds=int(getattr(settings, "EOD_STALE_SECONDS", default)))


def _trading_day(day: date) -> bool:
    from compliance import calendar

    return calendar.is_trading_day(day)


# --- start -----------------------------------------------------------------------------------


def run_start(*, business_date: date | str | None = None, actor, reason: str = "") -> EndOfDayRun:
    """The end of day of `business_date` (default today, desk time): created with its steps
    and started at its first step. Once per date: a run that exists is returned as it is
    (resuming it is `run_resume`)."""
    require_permission(actor, "reports.add_endofdayrun", action="start the end of day")
    today = timezone.localdate()
    if business_date is None:  # beat: today
        day = today
    elif business_date == "":
        raise ValidationFailed(
            _("business_date: a date is required (YYYY-MM-DD)"),
            extra={"field": "business_date"},
        )
    else:
        try:
            day = (
                date.fromisoformat(business_date)
                if isinstance(business_date, str)
                else business_date
            )
        except ValueError as exc:
            raise ValidationFailed(
                _("business_date: %(value)s is not a date (YYYY-MM-DD)") % {"value": business_date},
                extra={"field": "business_date"},
            ) from exc
    if day > today:
        raise ValidationFailed(
            _("business_date: %(day)s has not come yet; the end of day runs on or after its date")
            % {"day": day.isoformat()},
            extra={"field": "business_date"},
        )
    with transaction.atomic():
        run = EndOfDayRun.objects.select_for_update().filter(business_date=day).first()
        if run is not None:
            return run
        now = _now()
        run = EndOfDayRun(
            business_date=day,
            trading_day=_trading_day(day),
            status=EndOfDayStatus.RUNNING,
            started_at=now,
            started_by=actor,
        )
        stamp(run, actor=actor, reason=reason or "end of day started")
        run.save()
        for position, spec in enumerate(STEPS):
            step = EndOfDayStep(run=run, name=spec.name, position=position)
            stamp(step, actor=actor, reason="end of day started")
            step.save()
        _advance(run, actor=actor, reason="end of day started")
    return run


# --- the engine ------------------------------------------------------------------------------


def _advance(run: EndOfDayRun, *, actor, reason: str) -> None:
    """Start the first step of `run` that is not finished (run locked by the caller); the run is
    done when there is none. Steps that do not run today are skipped on the way."""
    now = _now()
    for step in run.steps.select_for_update().order_by("position"):
        if step.status in FINISHED:
            continue
        spec = BY_NAME[step.name]
        if spec.trading_days_only and not run.trading_day:
            step.status = EndOfDayStepStatus.SKIPPED
            step.started_at = step.finished_at = now
            stamp(step, actor=actor, reason="not a trading day")
            step.save()
            continue
        _begin(run, step, actor=actor, reason=reason)
        return
    run.status = EndOfDayStatus.DONE
    run.finished_at = now
    run.step = ""
    run.error = ""
    stamp(run, actor=actor, reason="end of day done")
    run.save()


def _begin(run: EndOfDayRun, step: EndOfDayStep, *, actor, reason: str) -> None:
    spec = BY_NAME[step.name]
    now = _now()
    eta = spec.not_before(run.business_date)
    step.params = spec.begin(run.business_date)
    step.shards_total = max(1, int(spec.shards()))
    step.shards_done = 0
    step.attempts += 1
    step.status = EndOfDayStepStatus.RUNNING
    step.started_at = now
    step.finished_at = None
    step.progress_at = max(now, eta) if eta else now
    step.error = ""
    step.result = {}
    stamp(step, actor=actor, reason=f"{reason}: step started (attempt {step.attempts})")
    step.save()
    run.step = step.name
    stamp(run, actor=actor, reason=f"{reason}: {step.name}")
    run.save()
    args = (run.pk, step.name, step.attempts, step.shards_total, eta if eta and eta > now else None)
    transaction.on_commit(lambda: _dispatch(*args))


def _dispatch(run_id: int, name: str, attempt: int, shards: int, eta: datetime | None) -> None:
    from celery import chord

    from . import tasks

    header = [
        tasks.eod_step_shard.si(run_id, name, attempt, k, shards).set(eta=eta)
        for k in range(shards)
    ]
    chord(header)(tasks.eod_step_finish.s(run_id, name, attempt))


def _locked(run_id: int, name: str) -> tuple[EndOfDayRun, EndOfDayStep]:
    run = EndOfDayRun.objects.select_for_update().get(pk=run_id)
    step = EndOfDayStep.objects.select_for_update().get(run=run, name=name)
    return run, step


def _current(step: EndOfDayStep, attempt: int) -> bool:
    return step.attempts == attempt and step.status == EndOfDayStepStatus.RUNNING


def step_shard_run(*, run_id: int, name: str, attempt: int, shard: int, shards: int) -> dict:
    """One shard of a step (a task's body): the step's service call, then the progress tick.
    A shard of an attempt that is no longer current does nothing. A failure fails the step
    and the run (and alerts) before it is raised again."""
    step = EndOfDayStep.objects.select_related("run").get(run_id=run_id, name=name)
    if not _current(step, attempt):
        return {"stale": 1}
    spec = BY_NAME[name]
    try:
        result = spec.shard(step.run.business_date, step.params, shard, shards)
    except Exception as exc:
        step_fail(run_id=run_id, name=name, attempt=attempt, error=f"{type(exc).__name__}: {exc}")
        raise
    EndOfDayStep.objects.filter(
        pk=step.pk,
        attempts=attempt,
        status=EndOfDayStepStatus.RUNNING,
        shards_done__lt=F("shards_total"),
    ).update(shards_done=F("shards_done") + 1, progress_at=_now())
    return result


def step_finish(*, run_id: int, name: str, attempt: int, results: list[dict]) -> bool:
    """Every shard of the step's attempt has committed: the step is done with the sum of its
    shards' counts, and the next step starts. False when the attempt is no longer current."""
    with transaction.atomic():
        run, step = _locked(run_id, name)
        if not _current(step, attempt) or run.status != EndOfDayStatus.RUNNING:
            return False
        total: dict = {}
        for result in results or []:
            for key, value in (result or {}).items():
                if key == "stale":
                    continue
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
                else:
                    total[key] = value
        step.status = EndOfDayStepStatus.DONE
        step.finished_at = step.progress_at = _now()
        step.shards_done = step.shards_total
        step.result = total
        stamp(step, actor=None, reason=f"step done (attempt {attempt})")
        step.save()
        _advance(run, actor=None, reason=f"after {name}")
    return True


def step_fail(*, run_id: int, name: str, attempt: int, error: str) -> bool:
    """A shard of the step raised: the step and the run fail with the error, and the desk is
    alerted (once per failure). False when the attempt is no longer current."""
    with transaction.atomic():
        run, step = _locked(run_id, name)
        if not _current(step, attempt):
            return False
        now = _now()
        step.status = EndOfDayStepStatus.FAILED
        step.finished_at = now
        step.error = error[:4000]
        stamp(step, actor=None, reason=f"step failed (attempt {attempt})")
        step.save()
        run.status = EndOfDayStatus.FAILED
        run.error = f"{name}: {error}"[:4000]
        run.alerted_at = now
        stamp(run, actor=None, reason=f"end of day failed at {name}")
        run.save()
        transaction.on_commit(lambda: alert_failure(run.pk))
    return True


# --- resume ----------------------------------------------------------------------------------


def run_resume(*, run: EndOfDayRun, actor, reason: str) -> EndOfDayRun:
    """Start again the step `run` reached (a new attempt; the steps before it are not run
    again). A failed run is resumed by a person once the cause is mended; a running run only
    when it has shown no progress for `stale_after()` (its messages were lost), by a person or
    by beat's sweeper. A finished run is not resumed."""
    require_permission(actor, "reports.resume_endofdayrun", action="resume the end of day")
    if not (reason or "").strip():
        raise ValidationFailed(
            _("reason: say why the end of day is resumed"), extra={"field": "reason"}
        )
    with transaction.atomic():
        run_id = run.pk
        run = EndOfDayRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound(_("run: no end-of-day run %(pk)s") % {"pk": run_id})
        if run.status == EndOfDayStatus.DONE:
            raise Conflict(
                _("run: the end of day of %(day)s is done; there is nothing to resume")
                % {"day": run.business_date.isoformat()},
                code="eod_done",
            )
        if run.status == EndOfDayStatus.RUNNING:
            current = run.steps.filter(status=EndOfDayStepStatus.RUNNING).first()
            last = current.progress_at if current else None
            if last is not None and _now() - last < stale_after():
                raise Conflict(
                    _(
                        "run: the end of day of %(day)s is running (step %(step)s, last "
                        "progress %(seconds)s seconds ago); it is resumed only after %(limit)s "
                        "seconds without progress"
                    )
                    % {
                        "day": run.business_date.isoformat(),
                        "step": current.label,
                        "seconds": int((_now() - last).total_seconds()),
                        "limit": int(stale_after().total_seconds()),
                    },
                    code="eod_running",
                )
        run.status = EndOfDayStatus.RUNNING
        run.finished_at = None
        run.error = ""
        run.resumes += 1
        stamp(run, actor=actor, reason=f"resumed: {reason}")
        run.save()
        _advance(run, actor=actor, reason=f"resumed: {reason}")
    return run


def runs_resume_stale() -> list[int]:
    """Beat's sweeper: every running run whose current step has shown no sign of life for
    `stale_after()` is resumed from that step. Returns the runs resumed."""
    limit = _now() - stale_after()
    ids = list(
        EndOfDayStep.objects.filter(
            run__status=EndOfDayStatus.RUNNING,
            status=EndOfDayStepStatus.RUNNING,
            progress_at__lt=limit,
        ).values_list("run_id", flat=True)
    )
    resumed = []
    for run_id in ids:
        try:
            run_resume(
                run=EndOfDayRun(pk=run_id),
                actor=None,
                reason=f"no progress for {int(stale_after().total_seconds())} seconds",
            )
        except Conflict:
            continue
        resumed.append(run_id)
    return resumed


# --- alert -----------------------------------------------------------------------------------


def alert_recipients() -> list[str]:
    configured = list(getattr(settings, "EOD_ALERT_EMAILS", []) or [])
    if configured:
        return configured
    from django.contrib.auth import get_user_model

    from accounts.roles import Role

    return sorted(
        get_user_model()
        .objects.filter(is_active=True, groups__name=Role.OPERATIONS)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )


def _alert_text(run: EndOfDayRun, language: str) -> tuple[str, str]:
    with translation.override(language):
        step = run.steps.filter(status=EndOfDayStepStatus.FAILED).first()
        subject = _("End of day %(day)s failed at step %(step)s") % {
            "day": run.business_date.isoformat(),
            "step": step.label if step else run.step,
        }
        body = _(
            "The end-of-day run of %(day)s stopped at step %(step)s: %(error)s. The steps after "
            "it have not run. Mend the cause, then resume the run on the staff console "
            "(end of day page); it starts again from that step."
        ) % {
            "day": run.business_date.isoformat(),
            "step": step.label if step else run.step,
            "error": run.error,
        }
    return subject, body


def alert_failure(run_id: int) -> int:
    """Tell the desk that the end of day stopped: the log (ERROR) and an e-mail in both
    languages. Returns the number of recipients (0: none, or the mail server refused it)."""
    run = EndOfDayRun.objects.get(pk=run_id)
    log.error("end of day %s failed: %s", run.business_date, run.error)
    recipients = alert_recipients()
    if not recipients:
        return 0
    zh_subject, zh_body = _alert_text(run, "zh-hans")
    en_subject, en_body = _alert_text(run, "en")
    try:
        EmailMessage(
            f"{zh_subject} / {en_subject}",
            f"{zh_body}\n\n{en_body}",
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        ).send(fail_silently=False)
    except Exception:  # the mail server down must not hide the step's own failure
        log.exception("end of day %s: the alert e-mail was not sent", run.business_date)
        return 0
    return len(recipients)


# --- reads -----------------------------------------------------------------------------------


def runs_for(user):
    require_permission(user, "reports.view_endofdayrun", action="see the end of day")
    return EndOfDayRun.objects.order_by("-business_date")


def run_for(user, pk: int) -> EndOfDayRun:
    run = runs_for(user).filter(pk=pk).first()
    if run is None:
        raise NotFound(_("run: no end-of-day run %(pk)s") % {"pk": pk})
    return run


def latest_run() -> EndOfDayRun | None:
    return EndOfDayRun.objects.order_by("-business_date").prefetch_related("steps").first()
