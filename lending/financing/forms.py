"""Forms of the portal account page: the two withdrawals (cash; own shares transferred out) and
a direct cash repayment (直接还款): shape only; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.precision import MONEY, QUANTITY


class SecuritiesWithdrawalForm(forms.Form):
    """Own shares to transfer out: `holdings` are (ledger unit, label) of the positions with own
    shares; the service decides how many may go."""

    action = forms.CharField(widget=forms.HiddenInput, initial="securities")
    instrument = forms.ChoiceField(label=_("Instrument"))
    quantity = forms.DecimalField(
        label=_("Quantity"), max_digits=QUANTITY.whole_digits, decimal_places=0, min_value=1
    )
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, holdings: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = holdings


class CashWithdrawalForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount (CNY)"), **MONEY.fields)
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)


class RepaymentForm(forms.Form):
    """Repay from the account's cash: interest first, then the oldest financing."""

    action = forms.CharField(widget=forms.HiddenInput, initial="repay")
    amount = forms.DecimalField(label=_("Amount to repay (CNY)"), **MONEY.fields)
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)


class ExtensionRequestForm(forms.Form):
    """The investor's request for an extension (展期) of one of their financings not yet due;
    the months allowed are checked by the service against the dated maximum."""

    financing = forms.TypedChoiceField(label=_("Financing"), coerce=int)
    months = forms.IntegerField(label=_("Months"), min_value=1)
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args, financings=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["financing"].choices = [
            (f.pk, f"#{f.pk} {f.instrument.ledger_unit} {f.principal_outstanding} "
                   f"({f.due_on:%Y-%m-%d})")
            for f in financings
        ]  # fmt: skip


class RightsSettleForm(forms.Form):
    """Operations record the custodian's confirmation of a rights issue's outcome."""

    outcome = forms.ChoiceField(label=_("Outcome"), choices=())
    custodian_reference = forms.CharField(label=_("Custodian confirmation"), max_length=64)
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args, **kwargs):
        from lending.financing.models import RightsOutcome

        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = RightsOutcome.choices
