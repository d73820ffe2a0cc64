"""Intraday mark-to-market runs (issue 6).

Design overview
- `MtmRun` is one valuation of the book (or, kind "incremental", of the holders of instruments
  whose price just moved) at one price snapshot: the latest price of every instrument when the
  run was created (`prices`, {instrument pk: "price"}) and its time (`prices_as_of`, the newest
  tick), which stamps every state change the run applies (`valued_at` of
  lending.margin_calls.services.margin_state_apply).
  Status, progress (shards done of `shards_total`),
  counts (accounts valued, warnings, calls issued, cures) and timings are on the row, and the
  problems that did not stop it: `deadline_problems` accounts below the call line whose call
  deadline could not be computed (beyond the known exchange calendar), with `problems` saying
  why; those accounts are stored in state "call" with their ratio, the call follows.
- `MtmShard` is one slice of the book (credit account pks `id_from` ≤ pk < `id_to`), processed
  by one Celery task of the run's chord; unique per (run, shard). Done once: a redelivered task
  finds it done and returns its counts.
- `MtmSnapshot` holds every account's risk figures in one shard of a run, by column (float64
  analytics figures: ratio, assets, liabilities; ratio +Infinity = no debt; the state the
  vectorised screen computed and the stored state before the run); unique per (run, shard),
  written by one binary COPY; read through lending.mtm.snapshots.
- `RiskBalance` is the mark-to-market's compact mirror of the client ledger balances it values
  (client money, financing and interest receivable in CNY; client securities): one row per
  such ledger account, keyed by integers (investor, kind, instrument) instead of the ledger's
  unit strings, so a shard reads its balances by one range scan without joining the ledger.
  Written only by PostgreSQL triggers (lending migration 0008) in the transaction that moves the
  ledger balance, so it is never behind it; `lending.mtm.book_arrays.mirror_breaks` compares
  the two.

Decisions (state changes, calls, notices) are made by the margin-call services from Decimal
figures; PostgreSQL keeps one unfinished call per account and one notice per call/kind/stage/
channel, so a run applied twice cannot issue anything twice.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _


class MtmRunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class MtmRunKind(models.TextChoices):
    FULL = "full", _("Full book")
    INCREMENTAL = "incremental", _("Holders of moved instruments")


class MtmRun(models.Model):
    kind = models.CharField(
        _("kind"), max_length=12, choices=MtmRunKind.choices, default=MtmRunKind.FULL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=MtmRunStatus.choices, default=MtmRunStatus.PENDING
    )
    trigger = models.CharField(_("started by"), max_length=20, default="beat")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    prices_as_of = models.DateTimeField(_("prices as of"), null=True, blank=True)
    prices = models.JSONField(_("price snapshot"), default=dict, blank=True)
    instrument_ids = models.JSONField(_("instruments"), default=list, blank=True)
    shards_total = models.PositiveIntegerField(_("shards"), default=0)
    shards_done = models.PositiveIntegerField(_("shards done"), default=0)
    accounts_valued = models.PositiveIntegerField(_("accounts valued"), default=0)
    warnings = models.PositiveIntegerField(_("warnings"), default=0)
    calls_issued = models.PositiveIntegerField(_("calls issued"), default=0)
    cures = models.PositiveIntegerField(_("cures"), default=0)
    state_changes = models.PositiveIntegerField(_("state changes applied"), default=0)
    error = models.TextField(_("error"), blank=True)
    # accounts below the call line whose call could not be issued (no deadline: the exchange
    # calendar is not known far enough); they are stored in "call", the call follows later
    deadline_problems = models.PositiveIntegerField(_("calls without a deadline"), default=0)
    problems = models.TextField(_("problems"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("mark-to-market run")
        verbose_name_plural = _("mark-to-market runs")
        ordering = ["-pk"]
        permissions = [("run_mtmrun", "Can start a mark-to-market run")]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"MTM run {self.pk} {self.kind} {self.status}"

    @property
    def source(self) -> str:
        """The `source` recorded on the margin events this run causes."""
        return f"mtm:{self.pk}"

    @property
    def progress(self) -> float:
        return self.shards_done / self.shards_total if self.shards_total else 0.0

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class MtmShard(models.Model):
    run = models.ForeignKey(MtmRun, on_delete=models.CASCADE, related_name="shard_rows")
    shard = models.PositiveIntegerField(_("shard"))
    id_from = models.BigIntegerField(_("from credit account id"))
    id_to = models.BigIntegerField(_("to credit account id (excluded)"))
    done = models.BooleanField(_("done"), default=False)
    accounts = models.PositiveIntegerField(_("accounts"), default=0)
    warnings = models.PositiveIntegerField(_("warnings"), default=0)
    candidates = models.PositiveIntegerField(_("accounts sent to the state machine"), default=0)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    load_seconds = models.FloatField(_("load (s)"), default=0)
    value_seconds = models.FloatField(_("valuation (s)"), default=0)
    store_seconds = models.FloatField(_("snapshots (s)"), default=0)
    apply_seconds = models.FloatField(_("state changes (s)"), default=0)
    deadline_problems = models.PositiveIntegerField(_("calls without a deadline"), default=0)
    problems = models.TextField(_("problems"), blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("mark-to-market shard")
        verbose_name_plural = _("mark-to-market shards")
        ordering = ["run", "shard"]
        constraints = [
            models.UniqueConstraint(fields=["run", "shard"], name="lending_mtm_shard_unique"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} shard {self.shard}"


class MtmSnapshot(models.Model):
    """The risk figures of every account of one shard of a run, stored by column: one array per
    figure, aligned by position (``accounts[i]``'s ratio is ``ratios[i]``), accounts ascending.
    A million accounts are a few rows of a few arrays, written by one binary COPY per shard;
    read through lending.mtm.snapshots (numpy), or in SQL with unnest(). A ratio of +Infinity means
    no debt. Unique per (run, shard): a redelivered shard replaces its row."""

    run = models.ForeignKey(MtmRun, on_delete=models.CASCADE, related_name="snapshots")
    shard = models.PositiveIntegerField(_("shard"))
    accounts = ArrayField(models.BigIntegerField(), verbose_name=_("credit accounts"))
    ratios = ArrayField(models.FloatField(), verbose_name=_("maintenance ratios"))
    assets = ArrayField(models.FloatField(), verbose_name=_("total assets"))
    liabilities = ArrayField(models.FloatField(), verbose_name=_("total liabilities"))
    states = ArrayField(models.SmallIntegerField(), verbose_name=_("screened states"))
    stored_states = ArrayField(models.SmallIntegerField(), verbose_name=_("stored states before"))

    class Meta:
        verbose_name = _("mark-to-market snapshot")
        verbose_name_plural = _("mark-to-market snapshots")
        constraints = [
            models.UniqueConstraint(fields=["run", "shard"], name="lending_mtm_snapshot_shard"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} shard {self.shard}"


class RiskBalanceKind(models.IntegerChoices):
    CLIENT_MONEY = 0, _("Client money")
    FINANCING_RECEIVABLE = 1, _("Financing receivable")
    INTEREST_RECEIVABLE = 2, _("Interest receivable")
    CLIENT_SECURITIES = 3, _("Client securities")
    # a cash dividend between its ex-date and pay date: other collateral (corporate actions)
    ENTITLEMENT_RECEIVABLE = 4, _("Dividend entitlement receivable")
    # the short side (lending.shorts): shares owed per instrument, restricted proceeds, and
    # the lending fees, compensation and buy-in shortfalls owed
    SHORT_SECURITIES = 5, _("Securities owed (short)")
    SHORT_PROCEEDS = 6, _("Restricted short-sale proceeds")
    LENDING_FEE_RECEIVABLE = 7, _("Securities lending receivable")


class RiskBalance(models.Model):
    """A client ledger balance as mark-to-market reads it (see the module docstring). ``amount``
    is the balance in its normal direction (cash held, debt owed, shares held), as the nearest
    float64 to the ledger's exact amount; ``instrument``
    is NULL for money and for a securities unit no instrument has (it counts nothing)."""

    ledger_account = models.OneToOneField(
        "custody.LedgerAccount",
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="+",
        db_constraint=False,
    )
    investor_id = models.BigIntegerField(_("investor"))
    kind = models.SmallIntegerField(_("kind"), choices=RiskBalanceKind.choices)
    instrument_id = models.IntegerField(_("instrument"), null=True, blank=True)
    # float64, as the valuation reads it (the ledger keeps the exact amount): PostgreSQL turns
    # a numeric into a double through its text form, too slow for millions of rows a run
    amount = models.FloatField(_("amount"), default=0)

    class Meta:
        verbose_name = _("mark-to-market balance")
        verbose_name_plural = _("mark-to-market balances")
        indexes = [
            models.Index(fields=["investor_id"], name="lending_riskbal_investor"),
            models.Index(fields=["instrument_id"], name="lending_riskbal_instrument"),
        ]

    def __str__(self) -> str:
        return f"investor {self.investor_id} kind {self.kind}: {self.amount}"


__all__ = [
    "MtmRun",
    "MtmRunKind",
    "MtmRunStatus",
    "MtmShard",
    "MtmSnapshot",
    "RiskBalance",
    "RiskBalanceKind",
]
