from django import forms
from django.utils.functional import lazy
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.models import IdentityType, InvestorType

from .models import RestrictedRole


class QuestionnaireForm(forms.Form):
    """One radio group per question of the questionnaire in use."""

    def __init__(self, *args, questionnaire, **kwargs):
        super().__init__(*args, **kwargs)
        for question in questionnaire.questions.all():
            self.fields[f"q{question.pk}"] = forms.ChoiceField(
                label=f"{question.order}. {question.text}",
                choices=[(o.pk, o.text) for o in question.options.all()],
                widget=forms.RadioSelect,
            )

    def answers(self) -> dict[int, int]:
        return {int(name[1:]): int(value) for name, value in self.cleaned_data.items()}


class ProfessionalRequestForm(forms.Form):
    financial_assets = forms.DecimalField(label=_("Financial assets (RMB)"), min_value=0)
    average_income_3y = forms.DecimalField(
        label=_("Average annual income over the last 3 years (RMB)"), min_value=0
    )
    experience_years = forms.DecimalField(
        label=_("Years of investing experience"), min_value=0, decimal_places=1
    )
    confirm_warning = forms.BooleanField(
        label=_("I have read the warning and understand the protections I give up.")
    )


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea)


class CalendarYearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2200)
    source = forms.CharField(
        label=_("Source"),
        max_length=200,
        help_text=_("The exchange notice the holidays come from."),
    )
    holidays = forms.CharField(
        label=_("Holidays"),
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_("One per line: YYYY-MM-DD and an optional name. Weekends need not be listed."),
    )


class CalendarYearProposalForm(CalendarYearForm):
    document = forms.FileField(
        label=_("The exchange's notice (PDF or HTML)"),
        help_text=_("Kept with its SHA-256; the second person compares the holidays with it."),
    )


class CalendarDecisionForm(forms.Form):
    proposal = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class RestrictedHoldingForm(forms.Form):
    security = forms.CharField(
        label=_("Security (EXCHANGE:CODE)"),
        max_length=24,
        help_text=_("The company's shares as the exchange lists them, e.g. SSE:600000."),
    )
    company_name = forms.CharField(label=_("Company"), max_length=200)
    role = forms.ChoiceField(label=_("Role"), choices=RestrictedRole.choices)
    since = forms.DateField(label=_("Since"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason or evidence"), max_length=500, required=False)


class RestrictedHoldingEndForm(forms.Form):
    holding = forms.IntegerField(widget=forms.HiddenInput)
    ended_on = forms.DateField(label=_("Ended on"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


#: A developer's help text with markup (never user input), translated when shown.
safe_lazy = lazy(mark_safe, SafeString)


class DailyAssetsUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        # the column names are the file's, the same in every language: shown as code
        help_text=safe_lazy(
            _(
                "Columns: <code>email</code>, <code>date</code> (YYYY-MM-DD), "
                "<code>total_assets</code>."
            )
        ),
    )


class ClassificationForm(forms.Form):
    financial_assets = forms.DecimalField(
        label=_("Financial assets (CNY)"), max_digits=20, decimal_places=2, min_value=0
    )
    average_income_3y = forms.DecimalField(
        label=_("Average annual income, last 3 years (CNY)"),
        max_digits=20,
        decimal_places=2,
        min_value=0,
        initial=0,
    )
    net_assets = forms.DecimalField(
        label=_("Net assets (institutions, CNY)"),
        max_digits=20,
        decimal_places=2,
        min_value=0,
        initial=0,
    )
    experience_years = forms.DecimalField(
        label=_("Years of investment experience"), max_digits=5, decimal_places=1, min_value=0
    )


class EligibilityFactsForm(forms.Form):
    first_trade_date = forms.DateField(
        label=_("First trade in the ordinary account"), required=False
    )
    has_serious_default = forms.BooleanField(label=_("Serious default on record"), required=False)
    is_related_party = forms.BooleanField(label=_("Related party of the firm"), required=False)
    firm_shareholding_pct = forms.DecimalField(
        label=_("Shareholding in the firm (%)"), max_digits=7, decimal_places=4, initial=0
    )
    evidence = forms.CharField(label=_("Evidence (files consulted)"), widget=forms.Textarea)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class RefusalForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Request refused"),
        choices=[
            ("sub_account", _("A sub-account of the credit account")),
            ("third_party_authority", _("Trading authority for a third party")),
        ],
    )
    details = forms.CharField(label=_("What was asked, by whom"), max_length=400)


class RedFlagResolveForm(forms.Form):
    flag = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Decision"),
        choices=[("cleared", _("Cleared")), ("confirmed", _("Confirmed"))],
    )
    resolution = forms.CharField(label=_("Resolution"), max_length=400)


class IdentityVerifiedForm(forms.Form):
    """What operations record after verifying a signed-up investor's identity in person or by
    video witness: the profile's real name, identity document and bank account of record."""

    real_name = forms.CharField(label=_("Real name"), max_length=200)
    investor_type = forms.ChoiceField(label=_("Investor type"), choices=InvestorType.choices)
    id_type = forms.ChoiceField(label=_("Identity document type"), choices=IdentityType.choices)
    id_number = forms.CharField(label=_("Identity document number"), max_length=40)
    bank_name = forms.CharField(label=_("Bank"), max_length=100)
    bank_account = forms.CharField(label=_("Bank account of record"), max_length=40)
    reason = forms.CharField(label=_("How the identity was verified"), max_length=300)


class EligibilityFactsUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Eligibility facts (CSV)"),
        help_text=_(
            "Columns: email, first_trade_date (YYYY-MM-DD), has_serious_default (yes/no), "
            "is_related_party (yes/no), firm_shareholding_pct, evidence."
        ),
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)
