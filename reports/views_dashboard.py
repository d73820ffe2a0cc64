"""The staff console's home: the risk dashboard (accounts by state, the distribution of
maintenance ratios, open calls with their deadlines, mark-to-market runs with their progress)
and the work queues. Reads only, through reports.dashboard; each queue links to the page whose
actions call the services."""

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from accounts import second_factor
from lending.domain import charts

from . import dashboard

STATE_COLOURS = {
    "normal": "#1e7a46",
    "warning": "#b7791f",
    "call": "#b42318",
    "overdue": "#8a1c12",
    "liquidation": "#6941c6",
    "default": "#475467",
}
# bucket colours, lowest ratios first (under 110%, 110-130% are under the call line)
BUCKET_COLOURS = ("#8a1c12", "#b42318", "#b7791f", "#d4a72c", "#1e7a46", "#1e7a46", "#0b4f8a")


class DashboardView(LoginRequiredMixin, UserPassesTestMixin, TemplateView):
    template_name = "reports/dashboard.html"

    def test_func(self) -> bool:
        return self.request.user.is_staff

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        board = dashboard.dashboard_for(user)
        distribution = board.distribution
        bars = [(b.label, b.count) for b in distribution.buckets]
        bars.append((_("No debt"), distribution.no_debt))
        context.update(
            board=board,
            roles=user.role_labels,
            second_factor_verified=second_factor.is_verified(user),
            second_factor_enrolled=second_factor.confirmed_device(user) is not None,
            state_colours=STATE_COLOURS,
            ratio_chart=mark_safe(  # noqa: S308 - charts escapes every label it draws
                charts.bar_chart(
                    bars,
                    title=_("Maintenance ratios of the book"),
                    x_label=_("Maintenance ratio"),
                    y_label=_("Accounts"),
                    colours=BUCKET_COLOURS,
                )
            ),
        )
        return context
