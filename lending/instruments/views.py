"""Staff pages of instruments: the list (and adding one), category, haircuts and flags, price
upload, the exchanges' lists (upload, imports, one import's lines and its file). Views parse
and call services or selectors; no rules here."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError
from lending.credit.views import StaffMixin
from lending.instruments import exchange_lists
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.forms import (
    CategoryForm,
    ExchangeListUploadForm,
    FlagsForm,
    HaircutForm,
    InstrumentCreateForm,
    InstrumentFilterForm,
    PriceUploadForm,
)
from lending.instruments.models import ExchangeListImport, ExchangeListKind, Instrument


class InstrumentListView(StaffMixin, View):
    """The instruments, filtered; a risk officer adds one (new instruments come in not
    eligible, with a haircut of 0, until set on their page)."""

    permission = "lending.view_instrument"
    write_permission = "lending.add_instrument"

    def post(self, request):
        create_form = InstrumentCreateForm(request.POST)
        if create_form.is_valid():
            try:
                instrument = instruments_services.instrument_create(
                    actor=request.user, **create_form.cleaned_data
                )
            except ApplicationError as exc:
                create_form.add_error(None, exc.message)
            else:
                messages.success(request, _("Instrument added."))
                return redirect("staff:lending-instrument-edit", pk=instrument.pk)
        return self.get(request, create_form=create_form, status=400)

    def get(self, request, create_form=None, status=200):
        form = InstrumentFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        qs = instruments_selectors.instruments(**{k: v for k, v in filters.items() if v})
        page = Paginator(qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        in_force = instruments_selectors.haircuts_in_force(page.object_list)
        return render(
            request,
            "lending/instruments/instruments.html",
            {
                "form": form,
                "page": page,
                "rows": [(i, in_force[i.pk]) for i in page.object_list],
                "query": query.urlencode(),
                "create_form": create_form or InstrumentCreateForm(),
                "can_add": request.user.has_perm("lending.add_instrument"),
            },
            status=status,
        )


class InstrumentEditView(StaffMixin, View):
    permission = "lending.view_instrument"
    write_permission = "lending.change_instrument"  # haircut and flags alike

    def _render(
        self,
        request,
        instrument,
        haircut_form=None,
        flags_form=None,
        category_form=None,
        status=200,
    ):
        today = timezone.localdate()
        return render(
            request,
            "lending/instruments/instrument_edit.html",
            {
                "instrument": instrument,
                "cap": instruments_services.haircut_cap(instrument.category),
                "in_force": instruments_selectors.haircuts_in_force([instrument], on=today)[
                    instrument.pk
                ],
                "collateral_list": exchange_lists.list_in_force(
                    instrument.exchange, ExchangeListKind.ELIGIBLE_COLLATERAL, today
                ),
                "target": exchange_lists.target_status(instrument, today),
                "haircut_form": haircut_form
                or HaircutForm(
                    initial={
                        "haircut": instrument.haircut,
                        "collateral_eligible": instrument.collateral_eligible,
                        "financing_eligible": instrument.financing_eligible,
                    }
                ),
                "flags_form": flags_form
                or FlagsForm(
                    initial={
                        "is_st": instrument.is_st,
                        "suspended": instrument.suspended,
                        "delisting": instrument.delisting,
                    }
                ),
                "category_form": category_form
                or CategoryForm(initial={"category": instrument.category}),
                "history": instrument.history.select_related("history_user").order_by(
                    "-history_id"
                )[:20],
                "stale": instruments_selectors.price_is_stale(instrument),
            },
            status=status,
        )

    def get(self, request, pk: int):
        instrument = get_object_or_404(Instrument.objects.select_related("latest_price"), pk=pk)
        return self._render(request, instrument)

    def post(self, request, pk: int):
        instrument = get_object_or_404(Instrument, pk=pk)
        if request.POST.get("action") == "category":
            form = CategoryForm(request.POST)
            if form.is_valid():
                try:
                    instruments_services.instrument_category_set(
                        instrument=instrument, actor=request.user, **form.cleaned_data
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("Category saved; the haircut was re-applied."))
                    return redirect("staff:lending-instrument-edit", pk=pk)
            return self._render(request, instrument, category_form=form, status=400)
        if request.POST.get("action") == "flags":
            form = FlagsForm(request.POST)
            if form.is_valid():
                try:
                    instruments_services.instrument_flags_set(
                        instrument=instrument, actor=request.user, **form.cleaned_data
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("Flags saved."))
                    return redirect("staff:lending-instrument-edit", pk=pk)
            return self._render(request, instrument, flags_form=form, status=400)
        form = HaircutForm(request.POST)
        if form.is_valid():
            try:
                instruments_services.haircut_set(
                    instrument=instrument, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Haircut saved."))
                return redirect("staff:lending-instrument-edit", pk=pk)
        return self._render(request, instrument, haircut_form=form, status=400)


#: At most this many ignored lines are named in the message after an upload.
UNKNOWN_SHOWN = 20


def _report_upload(request, result: instruments_services.PriceIngest) -> None:
    """What the upload did: ticks accepted and ignored, ticks already received, and each line
    whose instrument code the desk does not know (line numbers as a spreadsheet shows them)."""
    summary = _("%(accepted)s ticks accepted, %(ignored)s ignored.") % {
        "accepted": result.accepted,
        "ignored": result.ignored,
    }
    if result.repeated:
        summary += " " + _("%(count)s already received (same instrument and time).") % {
            "count": result.repeated
        }
    messages.success(request, summary)
    if result.unknown:
        named = [
            _("line %(line)s: %(code)s") % {"line": line, "code": code or _("(no code)")}
            for line, code in result.unknown[:UNKNOWN_SHOWN]
        ]
        more = len(result.unknown) - UNKNOWN_SHOWN
        if more > 0:
            named.append(_("and %(count)s more") % {"count": more})
        messages.warning(
            request,
            _("Ignored, instrument code not known to the desk: %(lines)s.")
            % {"lines": "; ".join(named)},
        )


class PriceUploadView(StaffMixin, View):
    permission = "lending.add_pricetick"
    write_permission = "lending.add_pricetick"

    def get(self, request):
        return render(request, "lending/instruments/price_upload.html", {"form": PriceUploadForm()})

    def post(self, request):
        form = PriceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = instruments_services.prices_import_csv(
                    content=form.cleaned_data["file"].read(), source="upload", actor=request.user
                )
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                _report_upload(request, result)
                return redirect("staff:lending-price-upload")
        return render(request, "lending/instruments/price_upload.html", {"form": form}, status=400)


class ExchangeListView(StaffMixin, View):
    """The exchanges' lists: the imports (newest first) with their file hash and unknown
    codes, the lists in force today, and the upload of a day's file (risk officers)."""

    permission = "lending.view_instrument"
    write_permission = exchange_lists.IMPORT_PERMISSION

    def get(self, request, form=None, status=200):
        page = Paginator(exchange_lists.imports(), 50).get_page(request.GET.get("page"))
        return render(
            request,
            "lending/instruments/exchange_lists.html",
            {
                "form": form
                or ExchangeListUploadForm(initial={"effective_on": timezone.localdate()}),
                "page": page,
                "in_force": sorted(
                    exchange_lists.lists_in_force(timezone.localdate()).values(),
                    key=lambda i: (i.exchange, i.kind),
                ),
                "can_import": request.user.has_perm(exchange_lists.IMPORT_PERMISSION),
            },
            status=status,
        )

    def post(self, request):
        form = ExchangeListUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                list_import, created = exchange_lists.exchange_list_import(
                    exchange=form.cleaned_data["exchange"],
                    kind=form.cleaned_data["kind"],
                    effective_on=form.cleaned_data["effective_on"],
                    file_name=upload.name,
                    content=upload.read(),
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if created:
                    messages.success(
                        request,
                        _("%(rows)s lines imported, %(unknown)s unknown codes.")
                        % {
                            "rows": list_import.row_count,
                            "unknown": len(list_import.unknown_codes),
                        },
                    )
                else:
                    messages.info(request, _("This file was already imported for that day."))
                return redirect("staff:lending-exchange-list-detail", pk=list_import.pk)
        return self.get(request, form=form, status=400)


class ExchangeListDetailView(StaffMixin, View):
    """One import: its file name, hash, who and why, unknown codes, and its lines."""

    permission = "lending.view_instrument"

    def get(self, request, pk: int):
        list_import = get_object_or_404(
            ExchangeListImport.objects.defer("content").select_related("imported_by"), pk=pk
        )
        entries = list_import.entries.select_related("instrument").order_by("line")
        page = Paginator(entries, 100).get_page(request.GET.get("page"))
        return render(
            request,
            "lending/instruments/exchange_list_detail.html",
            {"list_import": list_import, "page": page},
        )


class ExchangeListFileView(StaffMixin, View):
    """The import's source file as it was received (its SHA-256 is on the import)."""

    permission = "lending.view_instrument"

    def get(self, request, pk: int):
        list_import = get_object_or_404(ExchangeListImport, pk=pk)
        response = HttpResponse(list_import.content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=list_import.file_name
        )
        return response
