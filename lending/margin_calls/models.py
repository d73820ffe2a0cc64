"""The margin-call lifecycle: account margin states, calls, notices.

Design overview
- `AccountMarginState` is one row per credit account: the explicit state (normal, warning,
  call, overdue, liquidation, default), since when, and the last valuation applied (ratio,
  assets, liabilities, valued at). simple-history keeps every change; `MarginEvent` rows record
  each transition with who (actor), why (reason) and what triggered it (source).
- `MarginCall` is issued when the ratio falls below the contract's call line: ratio, assets and
  liabilities at issue, the deposit needed to restore the target (margin.cure_amount) and the
  deadline (two Shanghai trading days later, at the close of that session, Asia/Shanghai).
  PostgreSQL keeps at most one unfinished call (open, overdue, liquidating) per credit account
  (partial unique index): a mark-to-market run applied twice cannot issue two calls.
- `Notice` is one message on one channel (portal, e-mail) with its proof of delivery (sent at,
  delivery result, acknowledged in the portal by the investor). Unique per (call, kind, stage,
  channel), and for warnings (which have no call) per (account, warning episode, kind, stage,
  channel): a repeated valuation cannot send a notice twice."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.precision import MONEY, RATIO
from lending.credit.models import CreditAccount

# Ratios are stored to 6 places for display and reports; decisions use the exact Decimal.


class MarginStateKind(models.TextChoices):
    NORMAL = "normal", _("Normal")
    WARNING = "warning", _("Warning")
    CALL = "call", _("Margin call")
    OVERDUE = "overdue", _("Call overdue")
    LIQUIDATION = "liquidation", _("Liquidation")
    DEFAULT = "default", _("Default")


class AccountMarginState(models.Model):
    credit_account = models.OneToOneField(
        CreditAccount, on_delete=models.PROTECT, related_name="margin_state"
    )
    state = models.CharField(
        _("margin state"),
        max_length=12,
        choices=MarginStateKind.choices,
        default=MarginStateKind.NORMAL,
    )
    since = models.DateTimeField(_("since"))
    last_ratio = models.DecimalField(_("last ratio"), **RATIO.fields, null=True, blank=True)
    last_assets = models.DecimalField(_("last total assets"), **MONEY.fields, null=True, blank=True)
    last_liabilities = models.DecimalField(
        _("last total liabilities"), **MONEY.fields, null=True, blank=True
    )
    last_valued_at = models.DateTimeField(_("last valued at"), null=True, blank=True)
    # Incremented each time the account enters warning: warning notices are unique per episode.
    warning_episode = models.PositiveIntegerField(_("warning episode"), default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("account margin state")
        verbose_name_plural = _("account margin states")
        ordering = ["credit_account_id"]

    def __str__(self) -> str:
        return f"{self.credit_account} {self.get_state_display()}"


class MarginCallStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CURED = "cured", _("Cured")
    OVERDUE = "overdue", _("Overdue")
    LIQUIDATING = "liquidating", _("Liquidating")
    CLOSED = "closed", _("Closed after liquidation")


UNFINISHED_CALL_STATUSES = ("open", "overdue", "liquidating")


class MarginCall(models.Model):
    credit_account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="margin_calls"
    )
    issued_at = models.DateTimeField(_("issued at"))
    ratio_at_issue = models.DecimalField(_("ratio at issue"), **RATIO.fields)
    assets_at_issue = models.DecimalField(_("total assets at issue"), **MONEY.fields)
    liabilities_at_issue = models.DecimalField(_("total liabilities at issue"), **MONEY.fields)
    call_line = models.DecimalField(_("call line"), **RATIO.fields)
    target_line = models.DecimalField(_("target line"), **RATIO.fields)
    amount_to_cure = models.DecimalField(_("amount to cure"), **MONEY.fields)
    deadline = models.DateTimeField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=12, choices=MarginCallStatus.choices, default="open"
    )
    overdue_at = models.DateTimeField(_("overdue at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("call closed at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    source = models.CharField(_("source"), max_length=40, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("margin call")
        verbose_name_plural = _("margin calls")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_account"],
                condition=Q(status__in=UNFINISHED_CALL_STATUSES),
                name="lending_one_open_call_per_account",
            ),
            models.CheckConstraint(
                condition=Q(amount_to_cure__gte=0), name="lending_call_cure_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(deadline__gt=F("issued_at")), name="lending_call_deadline_after_issue"
            ),
            models.CheckConstraint(
                condition=Q(status__in=UNFINISHED_CALL_STATUSES, closed_at__isnull=True)
                | (Q(status__in=("cured", "closed")) & Q(closed_at__isnull=False)),
                name="lending_call_closed_at_iff_final",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Margin call #%(pk)s %(account)s")) % {
            "pk": self.pk,
            "account": self.credit_account,
        }

    @property
    def is_unfinished(self) -> bool:
        return self.status in UNFINISHED_CALL_STATUSES


#: What each margin event kind means, in the reader's language (MarginEvent.kind_label).
MARGIN_EVENT_KINDS = {
    "state_changed": _("State changed"),
    "call_issued": _("Margin call issued"),
    "call_cured": _("Margin call cured"),
    "call_deadline_pending": _("Call deadline not computable yet"),
    "call_overdue": _("Margin call overdue"),
    "plan_prepared": _("Liquidation plan prepared"),
    "plan_approved": _("Liquidation plan approved"),
    "plan_rejected": _("Liquidation plan rejected"),
    "plan_stopped": _("Liquidation plan stopped"),
    "orders_placed": _("Liquidation orders placed"),
    "execution_started": _("Liquidation started"),
    "execution_completed": _("Liquidation completed"),
    "default_recorded": _("Default recorded"),
    "maturity_reminder": _("Maturity reminder sent"),
    "maturity_reminder_uncomputable": _("Maturity reminder day not computable yet"),
    "maturity_overdue": _("Financing overdue"),
    "maturity_call_deferred": _("Maturity call waits for the open call"),
    "maturity_repaid": _("Overdue financing repaid"),
    "maturity_covers": _("Maturity call covers overdue short positions"),
}


class MarginEvent(models.Model):
    """A domain event: one transition of the lifecycle, with who, when and why."""

    credit_account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="margin_events"
    )
    call = models.ForeignKey(
        MarginCall, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(_("event"), max_length=40)
    from_state = models.CharField(_("from state"), max_length=12, blank=True)
    to_state = models.CharField(_("to state"), max_length=12, blank=True)
    ratio = models.DecimalField(_("ratio"), **RATIO.fields, null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(_("source"), max_length=40, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("margin event")
        verbose_name_plural = _("margin events")
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["credit_account", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.credit_account_id} {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def kind_label(self) -> str:
        return str(MARGIN_EVENT_KINDS.get(self.kind, self.kind))

    @property
    def from_state_label(self) -> str:
        return state_label(self.from_state)

    @property
    def to_state_label(self) -> str:
        return state_label(self.to_state)


def state_label(value: str) -> str:
    """A margin state's label in the reader's language (the code when it is not one)."""
    return str(MarginStateKind(value).label) if value in MarginStateKind.values else value


class NoticeKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    CALL = "call", _("Margin call")
    REMINDER = "reminder", _("Reminder")
    OVERDUE = "overdue", _("Call overdue")
    LIQUIDATION = "liquidation", _("Liquidation")
    CURED = "cured", _("Call cured")
    DEFAULT = "default", _("Default")
    MATURITY = "maturity", _("Financing maturity")
    RIGHTS = "rights", _("Rights issue")


class NoticeChannel(models.TextChoices):
    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("E-mail")


class Notice(models.Model):
    """One notice on one channel, with proof of delivery. Portal notices are delivered when
    written (the investor sees them on sign-in); e-mail notices are sent after the commit and
    record the mail backend's result. The investor's acknowledgement in the portal is the
    proof that the notice was read."""

    credit_account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="margin_notices"
    )
    call = models.ForeignKey(
        MarginCall, on_delete=models.PROTECT, null=True, blank=True, related_name="notices"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=NoticeKind.choices)
    stage = models.PositiveSmallIntegerField(_("stage"), default=0)
    warning_episode = models.PositiveIntegerField(_("warning episode"), null=True, blank=True)
    # a maturity notice (kind "maturity"): the financing it is about; stage = trading days
    # before the due date for a reminder, 0 once overdue
    financing = models.ForeignKey(
        "lending.Financing", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # a short position's maturity notice (kind "maturity"): the position it is about; stage as
    # for a financing's
    short_position = models.ForeignKey(
        "lending.ShortPosition", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # a rights-issue notice (kind "rights"): the holder's entitlement it announces
    entitlement = models.ForeignKey(
        "lending.CorporateActionEntitlement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=8, choices=NoticeChannel.choices)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    # each language's own subject and body ({"zh-hans": {"subject", "body"}, "en": {...}}):
    # the portal shows the reader's; subject and body (every language) are what was e-mailed
    texts = models.JSONField(_("texts by language"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered = models.BooleanField(_("delivered"), null=True, blank=True)
    delivery_error = models.TextField(_("delivery error"), blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["call", "kind", "stage", "channel"],
                condition=Q(call__isnull=False),
                name="lending_notice_once_per_call_stage_channel",
            ),
            models.UniqueConstraint(
                fields=["credit_account", "warning_episode", "kind", "stage", "channel"],
                condition=Q(call__isnull=True),
                name="lending_notice_once_per_warning_stage_channel",
            ),
            models.CheckConstraint(
                condition=Q(call__isnull=False)
                | Q(warning_episode__isnull=False)
                | Q(financing__isnull=False)
                | Q(short_position__isnull=False)
                | Q(entitlement__isnull=False),
                name="lending_notice_has_call_or_episode",
            ),
            models.UniqueConstraint(
                fields=["financing", "kind", "stage", "channel"],
                condition=Q(financing__isnull=False),
                name="lending_notice_once_per_financing_stage_channel",
            ),
            models.UniqueConstraint(
                fields=["short_position", "kind", "stage", "channel"],
                condition=Q(short_position__isnull=False),
                name="lending_notice_once_per_short_position_stage_channel",
            ),
            models.UniqueConstraint(
                fields=["entitlement", "kind", "stage", "channel"],
                condition=Q(entitlement__isnull=False),
                name="lending_notice_once_per_entitlement_stage_channel",
            ),
        ]
        indexes = [
            # the e-mail outbox: beat's sweeper reads the e-mails never attempted every minute
            models.Index(
                fields=["created_at"],
                condition=Q(channel="email", sent_at__isnull=True),
                name="lending_notice_email_outbox",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.stage} {self.channel} {self.credit_account_id}"

    def _text(self, part: str) -> str:
        language = translation.get_language() or settings.LANGUAGE_CODE
        own = self.texts.get(language) or self.texts.get(language.split("-")[0])
        return own[part] if own else getattr(self, part)

    @property
    def shown_subject(self) -> str:
        """The subject in the reader's language (what was sent when it has no versions)."""
        return self._text("subject")

    @property
    def shown_body(self) -> str:
        """The message in the reader's language (what was sent when it has no versions)."""
        return self._text("body")


__all__ = [
    "UNFINISHED_CALL_STATUSES",
    "AccountMarginState",
    "MarginCall",
    "MarginCallStatus",
    "MarginEvent",
    "MarginStateKind",
    "Notice",
    "NoticeChannel",
    "NoticeKind",
]
