"""Risk analytics runs: stress tests and Monte Carlo, with the reserve target they size.

Design overview
- `RiskRun` is one run of the whole-book analytics (lending.risk.services, arithmetic in the
  pure lending.domain.analytics): its kind (stress or Monte Carlo), the full parameter set it
  ran with
  (JSON, defaults filled in, so a run can be repeated), the seed, its status (pending ->
  running -> succeeded | failed), who started it, when and why, and its results.
- Results are stored compactly: the desk figures as columns (total stressed shortfall, VaR and
  expected shortfall at 95% and 99%, expected loss, the reserve target it proposes, the
  reserve fund balance at the end of the run and its adequacy) and a JSON document with the
  per-scenario desk figures, distribution summaries (histograms, quantiles) and the top-N worst
  accounts (per scenario for a stress run, by probability of ruin for a Monte Carlo run).
  Money inside the JSON is a decimal string, ratios are decimal strings or null (no debt).
- The proposed target becomes the desk's reserve target (custody.ReserveTarget) only when a
  second person adopts it: a treasurer or a risk officer other than the one who started the
  run (`target_adopted_by`; four eyes held by a CHECK constraint as well as the service).
- A run is executed by a Celery task that takes the run id and re-checks the status under a
  row lock (a redelivered task does nothing to a finished run).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.constraints import four_eyes
from accounts.precision import MONEY, RATIO


class RiskRunKind(models.TextChoices):
    STRESS = "stress", _("Stress test")
    MONTE_CARLO = "monte_carlo", _("Monte Carlo")


class RiskRunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class RiskRun(models.Model):
    kind = models.CharField(_("kind"), max_length=12, choices=RiskRunKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=RiskRunStatus.choices, default=RiskRunStatus.PENDING
    )
    parameters = models.JSONField(_("parameters"), default=dict)
    seed = models.BigIntegerField(_("seed"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    reason = models.TextField(_("reason"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # desk figures
    accounts_valued = models.PositiveIntegerField(_("accounts valued"), null=True, blank=True)
    total_shortfall = models.DecimalField(
        _("worst stressed shortfall"), **MONEY.fields, null=True, blank=True
    )
    var_95 = models.DecimalField(_("VaR 95%"), **MONEY.fields, null=True, blank=True)
    var_99 = models.DecimalField(_("VaR 99%"), **MONEY.fields, null=True, blank=True)
    es_95 = models.DecimalField(_("expected shortfall 95%"), **MONEY.fields, null=True, blank=True)
    es_99 = models.DecimalField(_("expected shortfall 99%"), **MONEY.fields, null=True, blank=True)
    expected_loss = models.DecimalField(_("expected loss"), **MONEY.fields, null=True, blank=True)
    stressed_loss = models.DecimalField(_("stressed loss"), **MONEY.fields, null=True, blank=True)
    reserve_target = models.DecimalField(_("reserve target"), **MONEY.fields, null=True, blank=True)
    reserve_balance = models.DecimalField(
        _("reserve fund balance"), **MONEY.fields, null=True, blank=True
    )
    reserve_adequacy = models.DecimalField(
        _("reserve adequacy"), **RATIO.fields, null=True, blank=True
    )
    results = models.JSONField(_("results"), default=dict, blank=True)
    # the reserve target the run proposes becomes the desk's only when a second person adopts it
    target_adopted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("target adopted by"),
    )
    target_adopted_at = models.DateTimeField(_("target adopted at"), null=True, blank=True)
    target_adoption_reason = models.TextField(_("why the target was adopted"), blank=True)

    history = HistoricalRecords(excluded_fields=["results"])

    class Meta:
        verbose_name = _("risk run")
        verbose_name_plural = _("risk runs")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("run_riskrun", _("Can start a stress test or Monte Carlo run")),
            ("adopt_riskrun", _("Can adopt the reserve target a risk run proposes")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=("succeeded", "failed"), finished_at__isnull=False)
                | Q(status__in=("pending", "running"), finished_at__isnull=True),
                name="lending_riskrun_finished_iff_final",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="lending_riskrun_reason_required"),
            four_eyes(
                checker="target_adopted_by",
                maker="started_by",
                name="lending_riskrun_target_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(target_adopted_by__isnull=True)
                | Q(status="succeeded", reserve_target__isnull=False),
                name="lending_riskrun_adopted_target_exists",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


__all__ = [
    "RiskRun",
    "RiskRunKind",
    "RiskRunStatus",
]
