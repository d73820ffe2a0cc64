"""Regulator filings and client statements.

Design overview (the invariants live here and in the pgtrigger below):

* A Filing is one version of one kind of report (see reports/kinds.py) at one as-of time.
  Its data snapshot is built by selectors from what was true at `as_of`, serialised as
  canonical JSON (reports/canonical.py) and hashed: the same as-of time gives the same
  `data_sha256`. The PDF, JSON and CSV files are stored with their own SHA-256.
* Life cycle: queued -> generating -> prepared (or failed) -> approved -> submitted.
  Approval is four-eyes: whoever prepared (requested or regenerated) a filing cannot approve
  it. A submitted filing is immutable: PostgreSQL refuses UPDATE and DELETE of its row
  (trigger `reports_filing_submitted_immutable`), and the services refuse first.
  A correction is a new version whose `replaces` points at the filing it corrects.
* Progress ticks (`progress`, `progress_note`) are saved without a history row; every state
  change is saved through a service with the actor and a reason in simple-history.
* A ClientStatement is one investor's monthly statement, built the same way (snapshot ->
  hash -> PDF) and downloadable only by that investor (and staff).
* A StatementRun is one month's statements for the whole book (reports/statement_runs.py):
  one run per month; its statements are inserted set-based when it starts and rendered in
  chunks by the workers. Its counters (`ready`, `failed`, `queued`) are progress, kept per
  chunk without a history row and recounted from the statements' statuses when the run
  finishes or is retried; its state changes are saved with the actor and a reason.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class FilingStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    GENERATING = "generating", _("Generating")
    FAILED = "failed", _("Failed")
    PREPARED = "prepared", _("Prepared")
    APPROVED = "approved", _("Approved")
    SUBMITTED = "submitted", _("Submitted")


def _filing_path(instance: "Filing", filename: str) -> str:
    stamp = instance.as_of.strftime("%Y%m%dT%H%M%S")
    return f"filings/{instance.kind}/{stamp}/{filename}"


def _statement_path(instance: "ClientStatement", filename: str) -> str:
    return f"statements/{instance.period_start:%Y-%m}/{filename}"


class Filing(models.Model):
    kind = models.CharField(_("kind"), max_length=40)
    as_of = models.DateTimeField(_("as of"))
    version = models.PositiveIntegerField(_("version"), default=1)
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
        verbose_name=_("corrects"),
    )
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    status = models.CharField(
        _("status"), max_length=12, choices=FilingStatus.choices, default=FilingStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    progress_note = models.CharField(_("progress note"), max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)

    data_sha256 = models.CharField(_("data SHA-256"), max_length=64, blank=True)
    pdf_file = models.FileField(_("PDF"), upload_to=_filing_path, blank=True)
    pdf_sha256 = models.CharField(_("PDF SHA-256"), max_length=64, blank=True)
    json_file = models.FileField(_("JSON data"), upload_to=_filing_path, blank=True)
    json_sha256 = models.CharField(_("JSON SHA-256"), max_length=64, blank=True)
    csv_file = models.FileField(_("CSV data"), upload_to=_filing_path, blank=True)
    csv_sha256 = models.CharField(_("CSV SHA-256"), max_length=64, blank=True)

    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("prepared by"),
        help_text=_("Who requested or regenerated it; empty when the end-of-day schedule did."),
    )
    generated_at = models.DateTimeField(_("generated at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    submission_reference = models.CharField(_("submission reference"), max_length=120, blank=True)

    history = HistoricalRecords(excluded_fields=["progress", "progress_note"])

    class Meta:
        verbose_name = _("filing")
        verbose_name_plural = _("filings")
        ordering = ["-as_of", "kind", "-version"]
        permissions = [
            ("approve_filing", _("Can approve a filing (four-eyes)")),
            ("submit_filing", _("Can submit an approved filing to the regulator")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "as_of", "version"], name="reports_filing_kind_asof_version"
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="reports_filing_progress_percent"
            ),
            models.CheckConstraint(
                condition=Q(replaces__isnull=True, version=1)
                | Q(replaces__isnull=False, version__gt=1),
                name="reports_filing_version_follows_replaces",
            ),
            models.CheckConstraint(
                condition=~Q(status="submitted")
                | Q(approved_by__isnull=False, submitted_at__isnull=False),
                name="reports_filing_submitted_was_approved",
            ),
        ]
        indexes = [models.Index(fields=["status"])]
        triggers = [
            pgtrigger.Protect(
                name="submitted_immutable",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status="submitted"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.as_of:%Y-%m-%d %H:%M} v{self.version} ({self.status})"


class StatementStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    GENERATING = "generating", _("Generating")
    FAILED = "failed", _("Failed")
    READY = "ready", _("Ready")


class StatementRunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    DONE_WITH_FAILURES = "done_with_failures", _("Done with failures")


class StatementRun(models.Model):
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    as_of = models.DateTimeField(_("as of"))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=StatementRunStatus.choices,
        default=StatementRunStatus.QUEUED,
    )
    accounts = models.PositiveIntegerField(_("accounts"), default=0)
    ready = models.PositiveIntegerField(_("ready"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    queued = models.PositiveIntegerField(_("queued"), default=0)
    chunk_size = models.PositiveIntegerField(_("statements per task"), default=25)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
        help_text=_("Empty when the monthly schedule started it."),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    # the counters are progress (updated per chunk): no history row each time
    history = HistoricalRecords(excluded_fields=["ready", "failed", "queued"])

    class Meta:
        verbose_name = _("statement run")
        verbose_name_plural = _("statement runs")
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["period_start"], name="reports_statementrun_one_a_month"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="reports_statementrun_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m} ({self.status})"

    @property
    def done_count(self) -> int:
        return self.ready + self.failed

    @property
    def percent(self) -> int:
        if not self.accounts:
            return 100
        return min(100, (self.ready + self.failed) * 100 // self.accounts)


class ClientStatement(models.Model):
    run = models.ForeignKey(
        StatementRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="statements",
        verbose_name=_("run"),
        db_index=False,  # the (run, status) index below serves the run's lookups
    )
    investor = models.ForeignKey(
        "accounts.InvestorProfile",
        on_delete=models.PROTECT,
        related_name="statements",
        verbose_name=_("investor"),
    )
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    as_of = models.DateTimeField(_("as of"))
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=StatementStatus.choices,
        default=StatementStatus.QUEUED,
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    error = models.TextField(_("error"), blank=True)
    data_sha256 = models.CharField(_("data SHA-256"), max_length=64, blank=True)
    pdf_file = models.FileField(_("PDF"), upload_to=_statement_path, blank=True)
    pdf_sha256 = models.CharField(_("PDF SHA-256"), max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    generated_at = models.DateTimeField(_("generated at"), null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["progress"])

    class Meta:
        verbose_name = _("client statement")
        verbose_name_plural = _("client statements")
        ordering = ["-period_start", "investor_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor", "period_start"], name="reports_statement_one_per_period"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="reports_statement_period_order",
            ),
        ]
        indexes = [
            # a run's progress and its failed statements: counted and listed by status
            models.Index(fields=["run", "status"], name="reports_statement_run_status"),
        ]

    def __str__(self) -> str:
        return f"{self.investor_id} {self.period_start:%Y-%m} ({self.status})"


# The end of day's run and steps live in their own module (reports/eod/models.py).
from .eod.models import (  # noqa: E402, F401
    EndOfDayRun,
    EndOfDayStatus,
    EndOfDayStep,
    EndOfDayStepStatus,
)
