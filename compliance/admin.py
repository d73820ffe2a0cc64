"""Staff admin for compliance. Evidence (assessments, acknowledgements, checks, red flags) is
read-only here; the few writes go through services, so history keeps actor and reason."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin_mixins import AppendOnlyHistoryAdmin, ReadOnlyHistoryAdmin, shown_as_data

from . import services
from .models import (
    CalendarYear,
    CalendarYearProposal,
    ClassificationRecord,
    DailyAssetFigure,
    DisclosureAcknowledgement,
    DisclosureDocument,
    EligibilityCheck,
    EligibilityCheckItem,
    EligibilityFacts,
    ExchangeHoliday,
    HeldDeposit,
    Product,
    ProfessionalTreatmentRequest,
    Question,
    Questionnaire,
    RedFlag,
    RegulatoryParameter,
    RestrictedDeclaration,
    RestrictedHolding,
    ScoreBand,
    SuitabilityAssessment,
    SuitabilityMatch,
)


@admin.register(RegulatoryParameter)
class RegulatoryParameterAdmin(AppendOnlyHistoryAdmin):
    """New dated rows only: a past value is never edited, it is superseded."""

    list_display = (
        shown_as_data("key", _("key"), code=True),
        "effective_from",
        "value",
        shown_as_data("source", _("source")),
    )
    list_filter = ("key",)
    search_fields = ("key", "source")

    def save_model(self, request, obj, form, change):
        row = services.parameter_add(
            key=obj.key,
            effective_from=obj.effective_from,
            value=obj.value,
            source=obj.source,
            actor=request.user,
        )
        obj.pk = row.pk


@admin.register(CalendarYear)
class CalendarYearAdmin(ReadOnlyHistoryAdmin):
    """Years are added on the staff page "Trading calendar" (/staff/compliance/calendar/)."""

    list_display = ("year", shown_as_data("source", _("source"), code=True), "created_at")


@admin.register(CalendarYearProposal)
class CalendarYearProposalAdmin(ReadOnlyHistoryAdmin):
    """Proposed and approved on the staff page "Trading calendar" (four eyes)."""

    list_display = ("year", "status", "source", "document_name", "proposed_by", "decided_by")
    list_filter = ("status",)
    exclude = ("document_content",)


@admin.register(RestrictedHolding)
class RestrictedHoldingAdmin(ReadOnlyHistoryAdmin):
    """Declared in the portal or recorded on the staff investor file; ended, never deleted."""

    list_display = ("investor", "security", "company_name", "role", "since", "ended_on", "source")
    list_filter = ("role", "source")
    search_fields = ("security", "company_name", "investor__real_name")


@admin.register(RestrictedDeclaration)
class RestrictedDeclarationAdmin(ReadOnlyHistoryAdmin):
    list_display = ("investor", "holds_none", "declared_at", "ip_address")


class ExchangeHolidayForm(forms.ModelForm):
    change_reason = forms.CharField(label=_("reason for this change"), max_length=200)

    class Meta:
        model = ExchangeHoliday
        fields = ["date", "name"]


@admin.register(ExchangeHoliday)
class ExchangeHolidayAdmin(AppendOnlyHistoryAdmin):
    """An extra closure inside a known year (typhoon, mourning day)."""

    form = ExchangeHolidayForm
    list_display = ("date", "name")
    date_hierarchy = "date"

    def save_model(self, request, obj, form, change):
        holiday = services.exchange_holiday_add(
            day=obj.date,
            name=obj.name,
            actor=request.user,
            reason=form.cleaned_data["change_reason"],
        )
        obj.pk = holiday.pk


class QuestionInline(admin.TabularInline):
    model = Question
    fields = ("order", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


class ScoreBandInline(admin.TabularInline):
    model = ScoreBand
    fields = ("min_score", "max_score", "risk_class", "is_lowest_category")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Questionnaire)
class QuestionnaireAdmin(ReadOnlyHistoryAdmin):
    list_display = ("version", "title", "is_active", "created_at")
    inlines = [QuestionInline, ScoreBandInline]


@admin.register(Product)
class ProductAdmin(ReadOnlyHistoryAdmin):
    list_display = (shown_as_data("code", _("code"), code=True), "name_shown", "risk_level")

    @admin.display(description=_("name"), ordering="name")
    def name_shown(self, obj):
        return gettext(obj.name)


@admin.register(SuitabilityAssessment)
class SuitabilityAssessmentAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "investor",
        "questionnaire_version",
        "total_score",
        "risk_class",
        "is_lowest_category",
        "taken_at",
        "valid_until",
    )
    list_filter = ("risk_class", "is_lowest_category")
    search_fields = ("investor__real_name", "investor__user__email")


@admin.register(SuitabilityMatch)
class SuitabilityMatchAdmin(ReadOnlyHistoryAdmin):
    list_display = ("investor", "product", "risk_class", "product_risk_level", "outcome")
    list_filter = ("outcome",)


@admin.register(DisclosureDocument)
class DisclosureDocumentAdmin(AppendOnlyHistoryAdmin):
    """Publishing is adding a new version; a published version never changes."""

    list_display = (
        "version",
        shown_as_data("title", _("title")),
        shown_as_data("sha256", "SHA-256", code=True),
        "published_at",
        "published_by",
    )
    fields = ("title", "content")

    def save_model(self, request, obj, form, change):
        document = services.disclosure_publish(
            title=obj.title, content=obj.content, actor=request.user
        )
        obj.pk = document.pk


@admin.register(DisclosureAcknowledgement)
class DisclosureAcknowledgementAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "investor",
        "version",
        shown_as_data("sha256", "SHA-256", code=True),
        "acknowledged_at",
        "ip_address",
    )
    search_fields = ("investor__real_name",)


@admin.register(EligibilityFacts)
class EligibilityFactsAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "investor",
        "first_trade_date",
        "has_serious_default",
        "is_related_party",
        "firm_shareholding_pct",
    )


@admin.register(DailyAssetFigure)
class DailyAssetFigureAdmin(ReadOnlyHistoryAdmin):
    list_display = ("investor", "date", "total_assets", "source")
    date_hierarchy = "date"


class EligibilityCheckItemInline(admin.TabularInline):
    model = EligibilityCheckItem
    fields = ("rule", "passed", "message", "evidence")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(EligibilityCheck)
class EligibilityCheckAdmin(ReadOnlyHistoryAdmin):
    list_display = ("investor", "as_of", "passed", "checked_at", "checked_by")
    list_filter = ("passed",)
    inlines = [EligibilityCheckItemInline]


@admin.register(ClassificationRecord)
class ClassificationRecordAdmin(ReadOnlyHistoryAdmin):
    list_display = ("investor", "result", "assessed_at", "assessed_by")


@admin.register(ProfessionalTreatmentRequest)
class ProfessionalTreatmentRequestAdmin(ReadOnlyHistoryAdmin):
    """Assessed on the staff page "Professional treatment requests"."""

    list_display = ("investor", "status", "requested_at", "assessed_by", "assessed_at")
    list_filter = ("status",)


@admin.register(RedFlag)
class RedFlagAdmin(ReadOnlyHistoryAdmin):
    list_display = ("raised_at", "investor", "kind", "status", "message")
    list_filter = ("kind", "status")
    search_fields = ("investor__real_name", "message")


@admin.register(HeldDeposit)
class HeldDepositAdmin(ReadOnlyHistoryAdmin):
    """Released or returned on the staff page "Held deposits"."""

    list_display = (
        "received_at",
        "investor",
        "amount",
        "currency",
        "bank_account_masked",
        "status",
    )
    list_filter = ("status",)
