"""The treasury console (staff): the reserve fund beside its target, backup facilities, open
reconciliation breaks with their age, the latest reconciliations and client-money requirement,
and the forms that act on them: import a bank or custodian statement (and reconcile it), run
the internal reconciliation, resolve a break, contribute to the reserve fund or house capital,
open, draw, repay and close a facility, and record what was done about a default that the
reserve fund and the facilities did not cover. Each form names its action; its permission is
declared below and checked again by the service (custody.services).

A client-money requirement has its own page: the summary and its inputs per client, a page
of lines at a time (a large book has a line per client), or one client's line."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError
from accounts.permissions import StaffPageMixin

from . import selectors, services
from .forms import (
    BreakResolveForm,
    FacilityCloseForm,
    FacilityCreateForm,
    FacilityMoveForm,
    HouseMoneyForm,
    InternalReconciliationForm,
    LossAddressForm,
    StatementForm,
)
from .models import ClientMoneyRequirement, ReconciliationBreak, UncoveredLoss

MOVE = services.MOVE_PERM

#: action -> (form class, permission)
ACTIONS = {
    "statement": (StatementForm, "custody.add_statementimport"),
    "internal": (InternalReconciliationForm, "custody.add_reconciliation"),
    "resolve": (BreakResolveForm, MOVE),
    "reserve": (HouseMoneyForm, MOVE),
    "capital": (HouseMoneyForm, MOVE),
    "facility_create": (FacilityCreateForm, MOVE),
    "draw": (FacilityMoveForm, MOVE),
    "repay": (FacilityMoveForm, MOVE),
    "close": (FacilityCloseForm, MOVE),
    "loss": (LossAddressForm, MOVE),
}


class TreasuryView(StaffPageMixin, View):
    permission = "custody.view_reconciliation"
    write_permission = {action: perm for action, (_form, perm) in ACTIONS.items()} | {None: MOVE}

    def _render(self, request, bound=None, status=200):
        forms = {
            action: form_class(prefix=action) for action, (form_class, _perm) in ACTIONS.items()
        }
        if bound is not None:
            forms[bound[0]] = bound[1]
        can = {action: request.user.has_perm(perm) for action, (_f, perm) in ACTIONS.items()}
        return render(
            request,
            "custody/treasury.html",
            {"overview": selectors.treasury_overview(), "forms": forms, "can": can},
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action not in ACTIONS:
            return self._render(request, status=400)
        form_class, _perm = ACTIONS[action]
        form = form_class(request.POST, request.FILES, prefix=action)
        if form.is_valid():
            try:
                done = getattr(self, f"_{action}")(request, form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, done)
                return redirect("staff:custody-treasury")
        return self._render(request, (action, form), status=400)

    # --- one method per action: call the service, say what was done ---------------------

    def _statement(self, request, data):
        upload = data["file"]
        statement = services.statement_import(
            source=data["source"],
            institution=data["institution"],
            content=upload.read(),
            file_name=upload.name,
            actor=request.user,
        )
        recon = services.reconciliation_external_run(statement=statement, actor=request.user)
        return _("Statement %(file)s imported and reconciled: %(status)s.") % {
            "file": statement.file_name,
            "status": recon.get_status_display(),
        }

    def _internal(self, request, data):
        recon = services.reconciliation_internal_run(
            business_date=data["business_date"], currency=data["currency"], actor=request.user
        )
        return _("Internal reconciliation of %(day)s: %(status)s.") % {
            "day": recon.business_date.isoformat(),
            "status": recon.get_status_display(),
        }

    def _resolve(self, request, data):
        brk = ReconciliationBreak.objects.get(pk=data["break_id"])
        services.reconciliation_break_resolve(brk=brk, actor=request.user, reason=data["reason"])
        return _("Break #%(id)s resolved.") % {"id": brk.pk}

    def _reserve(self, request, data):
        return self._house_money(
            request,
            data,
            services.reserve_fund_contribute,
            _("Reserve fund contribution recorded."),
        )

    def _capital(self, request, data):
        return self._house_money(
            request, data, services.house_capital_contribute, _("House capital recorded.")
        )

    @staticmethod
    def _house_money(request, data, service, done: str) -> str:
        service(
            amount=data["amount"],
            currency=data["currency"],
            actor=request.user,
            reason=data["reason"],
            idempotency_key=f"treasury:{service.__name__}:{data['key']}",
        )
        return done

    def _facility_create(self, request, data):
        facility = services.facility_create(actor=request.user, **data)
        return _("Facility #%(id)s with %(bank)s opened.") % {
            "id": facility.pk,
            "bank": facility.bank,
        }

    def _draw(self, request, data):
        facility = data["facility"]
        services.facility_draw(
            facility=facility,
            amount=data["amount"],
            actor=request.user,
            reason=data["reason"],
            idempotency_key=f"treasury:draw:{data['key']}",
        )
        return _("Drawn on facility #%(id)s.") % {"id": facility.pk}

    def _repay(self, request, data):
        facility = data["facility"]
        services.facility_repay(
            facility=facility,
            amount=data["amount"],
            actor=request.user,
            reason=data["reason"],
            idempotency_key=f"treasury:repay:{data['key']}",
        )
        return _("Repaid to facility #%(id)s.") % {"id": facility.pk}

    def _close(self, request, data):
        facility = data["facility"]
        services.facility_close(facility=facility, actor=request.user, reason=data["reason"])
        return _("Facility #%(id)s closed.") % {"id": facility.pk}

    def _loss(self, request, data):
        loss = UncoveredLoss.objects.get(pk=data["loss_id"])
        services.uncovered_loss_address(
            loss=loss, actor=request.user, action_taken=data["action_taken"]
        )
        return _("Uncovered loss #%(id)s addressed.") % {"id": loss.pk}


class KnownCountPaginator(Paginator):
    """A paginator told its row count (a requirement's `clients`), so a page costs its rows and
    not a count(*) over a million lines."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


class ClientMoneyRequirementView(StaffPageMixin, View):
    """One client-money requirement: its summary and its inputs per client, LINES_PER_PAGE at
    a time in investor order; `?investor=<id>` shows one client's line."""

    permission = "custody.view_clientmoneyrequirement"
    LINES_PER_PAGE = 100

    def get(self, request, pk: int):
        requirement = get_object_or_404(
            ClientMoneyRequirement.objects.select_related("computed_by"), pk=pk
        )
        raw = request.GET.get("investor", "").strip()
        investor_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
        lines = selectors.client_money_requirement_lines(
            requirement=requirement, investor_id=investor_id
        )
        if investor_id is None:
            paginator = KnownCountPaginator(lines, self.LINES_PER_PAGE, count=requirement.clients)
        else:
            paginator = Paginator(lines, self.LINES_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        return render(
            request,
            "custody/client_money_requirement.html",
            {
                "requirement": requirement,
                "excess": requirement.segregated_funds - requirement.requirement,
                "page": page,
                "investor": raw if investor_id is not None else "",
                "reconciliations": requirement.reconciliations.order_by("-pk"),
            },
        )
