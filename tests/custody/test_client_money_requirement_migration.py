"""custody migrations 0011-0013 move the inputs per client of every requirement already
computed from its JSON document into its lines, losing none: an auditor reading an old
requirement after the upgrade sees the same numbers, and its history rows their count."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("custody", "0010_append_only_evidence")]
AFTER = [("custody", "0013_remove_client_money_requirement_details")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_documents_of_existing_requirements_become_lines(make_investor):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    a, b = make_investor(), make_investor()
    old = _migrate(BEFORE)
    try:
        requirements = old.get_model("custody", "ClientMoneyRequirement")
        history = old.get_model("custody", "HistoricalClientMoneyRequirement")
        now = timezone.now()
        details = [  # as the per-account computation stored them: amounts as strings
            {"investor": a.pk, "credit": "1000.0000", "debit": "400.0000",
             "debit_counted": "400.0000"},
            {"investor": b.pk, "credit": "500.0000", "debit": "0", "debit_counted": "0"},
        ]  # fmt: skip
        row = requirements.objects.create(
            business_date=now.date(), currency="CNY", as_of=now, credits=Decimal("1500"),
            debits=Decimal("400"), requirement=Decimal("1100"), segregated_funds=Decimal("1500"),
            details=details,
        )  # fmt: skip
        empty = requirements.objects.create(
            business_date=now.date(), currency="USD", as_of=now, credits=0, debits=0,
            requirement=0, segregated_funds=0, details=[],
        )  # fmt: skip
        for r in (row, empty):
            history.objects.create(
                id=r.pk, business_date=r.business_date, currency=r.currency, as_of=r.as_of,
                credits=r.credits, debits=r.debits, requirement=r.requirement,
                segregated_funds=r.segregated_funds, details=r.details,
                computed_at=r.computed_at, history_date=now, history_type="+",
                history_change_reason="system: daily client-money requirement",
            )  # fmt: skip

        new = _migrate(AFTER)
        lines = new.get_model("custody", "ClientMoneyRequirementLine").objects
        assert sorted(
            lines.filter(requirement_id=row.pk).values_list(
                "investor_id", "credit", "debit", "debit_counted"
            )
        ) == [
            (a.pk, Decimal("1000"), Decimal("400"), Decimal("400")),
            (b.pk, Decimal("500"), Decimal("0"), Decimal("0")),
        ]
        assert not lines.filter(requirement_id=empty.pk).exists()
        summaries = new.get_model("custody", "ClientMoneyRequirement").objects
        assert dict(summaries.values_list("pk", "clients")) == {row.pk: 2, empty.pk: 0}
        histories = new.get_model("custody", "HistoricalClientMoneyRequirement").objects
        assert dict(histories.values_list("id", "clients")) == {row.pk: 2, empty.pk: 0}
        # the history table is append-only again after the migration filled it in
        from accounts import append_only

        assert "custody_historicalclientmoneyrequirement" in append_only.protected_tables(
            connection
        )
        assert "custody_clientmoneyrequirementline" in append_only.protected_tables(connection)
    finally:
        _migrate(latest)
