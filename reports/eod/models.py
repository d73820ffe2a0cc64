"""The end-of-day run of one business date and its steps.

A run is created once per business date (unique) with one row per step, in the order of
reports.eod.steps.STEPS. A step is worked by `shards_total` Celery tasks (one for a step that
is not sharded); each shard task ticks `shards_done` when it commits. The run's `step` is the
step it reached: resuming a run (after a crash, a lost message, or a failure once its cause is
mended) starts that step again, with a new attempt number, and never the steps before it.
Progress ticks (`shards_done`) are saved without a history row; every state change is saved
with the actor and a reason in simple-history.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class EndOfDayStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class EndOfDayStepStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class EndOfDayRun(models.Model):
    business_date = models.DateField(_("business date"), unique=True)
    trading_day = models.BooleanField(_("trading day"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=EndOfDayStatus.choices,
        default=EndOfDayStatus.RUNNING,
    )
    step = models.CharField(_("step reached"), max_length=30, blank=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("run started by"),
    )
    resumes = models.PositiveIntegerField(_("resumes"), default=0)
    error = models.TextField(_("error"), blank=True)
    alerted_at = models.DateTimeField(_("alert sent at"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("end-of-day run")
        verbose_name_plural = _("end-of-day runs")
        ordering = ["-business_date"]
        permissions = [("resume_endofdayrun", "Can resume an end-of-day run")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in EndOfDayStatus]),
                name="reports_eod_run_status_known",
            ),
            models.CheckConstraint(
                condition=Q(status="running", finished_at__isnull=True)
                | Q(status="done", finished_at__isnull=False)
                | Q(status="failed"),
                name="reports_eod_run_finished_when_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.status}"


class EndOfDayStep(models.Model):
    run = models.ForeignKey(
        EndOfDayRun, on_delete=models.PROTECT, related_name="steps", verbose_name=_("run")
    )
    name = models.CharField(_("step"), max_length=30)
    position = models.PositiveSmallIntegerField(_("position"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=EndOfDayStepStatus.choices,
        default=EndOfDayStepStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    shards_total = models.PositiveIntegerField(_("shards"), default=0)
    shards_done = models.PositiveIntegerField(_("shards done"), default=0)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    #: the last sign of life: the step's start (or the earliest time it may start), then each
    #: shard that commits; a running step without one for EOD_STALE_SECONDS is resumed
    progress_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    history = HistoricalRecords(excluded_fields=["shards_done", "progress_at"])

    class Meta:
        verbose_name = _("end-of-day step")
        verbose_name_plural = _("end-of-day steps")
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="reports_eod_step_once"),
            models.UniqueConstraint(fields=["run", "position"], name="reports_eod_step_position"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in EndOfDayStepStatus]),
                name="reports_eod_step_status_known",
            ),
            models.CheckConstraint(
                condition=Q(shards_done__lte=models.F("shards_total")),
                name="reports_eod_step_shards_counted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run.business_date} {self.name} {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def label(self) -> str:
        from .steps import step_label

        return step_label(self.name)

    @property
    def result_lines(self) -> list[tuple[str, object]]:
        from .steps import result_lines

        return result_lines(self.result)
