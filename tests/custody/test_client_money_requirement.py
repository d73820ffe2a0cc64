"""The daily client-money requirement (15c3-3 model), set-based (issue 21): a summary row and a
line per client, computed in SQL from the balance rows (today) or from the postings up to the
end of a past day, with the numbers the per-account Python computation gave, checked by hand.

The book of every test here (`book`): five clients in CNY.
| client | client money | financing | interest | credit  | debit   | counted |
|--------|-------------:|----------:|---------:|--------:|--------:|--------:|
| A      | 1,000.00     |           |          | 1000.00 | 0       | 0       |
| B      | 300.00       | 500.00    |          | 300.00  | 500.00  | 300.00  |
| C      | 2,000.00     | 400.00    |          | 2000.00 | 400.00  | 400.00  |
| D      | 800.00       | 100.00    | 25.50    | 800.00  | 125.50  | 125.50  |
| E      | (no account) | 200.00    |          | 0       | 200.00  | 0       |
credits 4,100.00; debits counted 825.50; requirement 3,274.50; segregated funds (the client
bank: the deposits) 4,100.00, an excess of 825.50 over the requirement.
"""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone, translation
from rest_framework.test import APIClient

from accounts.roles import Role
from custody import selectors, services
from custody.models import (
    ClientMoneyRequirement,
    ClientMoneyRequirementLine,
    EntryKind,
    JournalEntry,
    Reconciliation,
    ReconciliationKind,
)
from custody.services import reconciliation as reconciliation_services
from custody.views import ClientMoneyRequirementView
from tests.second_factor import login_verified, second_factor

D = Decimal


def _owe(investor, purpose: str, amount: str, actor, income: str = "house_bank") -> None:
    """The client owes `amount` more: Dr its receivable, Cr the house (bank or income)."""
    receivable = services.client_account(investor, purpose, "CNY")
    house = services.house_account(income, "CNY")
    services.entry_post(
        legs=[services.debit(receivable, D(amount)), services.credit(house, D(amount))],
        memo=f"{purpose} {amount}",
        kind=EntryKind.INTEREST if purpose == "interest_receivable" else EntryKind.FINANCING,
        actor=actor,
    )


@pytest.fixture
def book(funded_investor, make_investor, treasury):
    a = funded_investor("1000.00")
    b = funded_investor("300.00")
    _owe(b, "financing_receivable", "500.00", treasury)
    c = funded_investor("2000.00")
    _owe(c, "financing_receivable", "400.00", treasury)
    d = funded_investor("800.00")
    _owe(d, "financing_receivable", "100.00", treasury)
    _owe(d, "interest_receivable", "25.50", treasury, income="interest_income")
    e = make_investor(bank_account="6228880099999999999")
    _owe(e, "financing_receivable", "200.00", treasury)
    return {"A": a, "B": b, "C": c, "D": d, "E": e}


EXPECTED = {  # client: (credit, debit, debit counted)
    "A": (D("1000"), D("0"), D("0")),
    "B": (D("300"), D("500"), D("300")),
    "C": (D("2000"), D("400"), D("400")),
    "D": (D("800"), D("125.50"), D("125.50")),
    "E": (D("0"), D("200"), D("0")),
}


def _lines(requirement) -> dict[int, tuple]:
    return {
        line.investor_id: (line.credit, line.debit, line.debit_counted)
        for line in ClientMoneyRequirementLine.objects.filter(requirement=requirement)
    }


def _expected(book) -> dict[int, tuple]:
    return {book[name].pk: numbers for name, numbers in EXPECTED.items()}


@pytest.mark.django_db
def test_the_requirement_and_its_lines_are_the_hand_computed_numbers(book, treasury):
    requirement = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    assert _lines(requirement) == _expected(book)
    assert requirement.clients == 5
    assert (requirement.credits, requirement.debits) == (D("4100"), D("825.50"))
    assert requirement.requirement == D("3274.50")
    assert requirement.segregated_funds == D("4100")
    # the row as stored, and its one history row saying who and why
    stored = ClientMoneyRequirement.objects.get(pk=requirement.pk)
    assert (stored.credits, stored.debits, stored.requirement, stored.clients) == (
        D("4100"),
        D("825.50"),
        D("3274.50"),
        5,
    )
    (history,) = stored.history.all()
    assert history.history_user == treasury and history.clients == 5
    assert history.history_change_reason == "daily client-money requirement"
    # the system computes too (the daily task): its history row says so
    by_system = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=None
    )
    assert by_system.history.get().history_change_reason == (
        "system: daily client-money requirement"
    )
    assert _lines(by_system) == _expected(book)


@pytest.mark.django_db
def test_another_currency_has_its_own_lines(book, treasury):
    """Only the currency's accounts count: nothing in USD gives an empty requirement."""
    requirement = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="USD", actor=treasury
    )
    assert (requirement.clients, requirement.credits, requirement.requirement) == (0, 0, 0)
    assert not requirement.lines.exists()


@pytest.mark.django_db(transaction=True)
def test_a_past_day_reads_the_balances_at_its_end(book, treasury, funded_investor, monkeypatch):
    """A past business date reads the balances at the end of that day: what was posted after
    does not count. The end of the day is set between two commits (each entry is created at
    its own commit), so the balances then are the book's; what follows changes A, C and E."""
    then = JournalEntry.objects.order_by("-pk").first().created_at
    # after the end of the day: A withdraws 250, C owes 100 more, E repays 200 from the house
    services.client_withdrawal_post(
        investor=book["A"], amount="250", currency="CNY", reference="w1", actor=treasury,
        idempotency_key="w1",
    )  # fmt: skip
    _owe(book["C"], "financing_receivable", "100.00", treasury)
    receivable = services.client_account(book["E"], "financing_receivable", "CNY")
    services.entry_post(
        legs=[
            services.debit(services.house_account("house_bank", "CNY"), D("200")),
            services.credit(receivable, D("200")),
        ],
        memo="repaid",
        kind=EntryKind.FINANCING,
        actor=treasury,
    )
    late = funded_investor("50.00")  # a client whose money arrived after the end of the day
    monkeypatch.setattr(reconciliation_services, "end_of_day", lambda day: then)
    yesterday = timezone.localdate() - timedelta(days=1)
    past = services.client_money_requirement_compute(
        business_date=yesterday, currency="CNY", actor=treasury
    )
    # the accounts that exist now are all there (the late client with nothing then)
    assert _lines(past) == _expected(book) | {late.pk: (D("0"), D("0"), D("0"))}
    assert past.as_of == then
    assert (past.credits, past.debits, past.requirement) == (D("4100"), D("825.50"), D("3274.50"))
    assert past.segregated_funds == D("4100")
    # the same numbers as the selector's sum of postings up to that time
    accounts = [services.client_account(book[n], "client_money", "CNY") for n in "ABCD"]
    then_balances = selectors.balances_as_of(accounts=accounts, as_of=then)
    assert [then_balances[a.pk] for a in accounts] == [D("1000"), D("300"), D("2000"), D("800")]
    # and today: A 750, C owes 500 (counted 500), E owes nothing, the late client 50
    now = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    assert _lines(now)[book["A"].pk] == (D("750"), D("0"), D("0"))
    assert _lines(now)[book["C"].pk] == (D("2000"), D("500"), D("500"))
    assert _lines(now)[book["E"].pk] == (D("0"), D("0"), D("0"))
    assert (now.credits, now.debits) == (D("3900"), D("925.50"))
    assert now.segregated_funds == D("3900")


@pytest.mark.django_db
def test_each_run_of_the_day_is_its_own_requirement_and_the_reconciliation_has_the_latest(
    book, treasury
):
    today = timezone.localdate()
    first = services.reconciliation_internal_run(
        business_date=today, currency="CNY", actor=treasury
    )
    # segregated 4,100 vs requirement 3,274.50: an excess of 825.50, one break
    (brk,) = first.breaks.all()
    assert (brk.expected, brk.actual, brk.difference) == (D("3274.50"), D("4100"), D("825.50"))
    second = services.reconciliation_internal_run(
        business_date=today, currency="CNY", actor=treasury
    )
    # one reconciliation of the day; the open break is not found twice
    assert second.pk == first.pk and second.breaks.count() == 1
    assert Reconciliation.objects.filter(kind=ReconciliationKind.INTERNAL).count() == 1
    requirements = list(ClientMoneyRequirement.objects.order_by("pk"))
    assert len(requirements) == 2
    assert second.requirement == requirements[-1]
    # each run has its own lines, once per client; nothing duplicated within a requirement
    for requirement in requirements:
        assert _lines(requirement) == _expected(book)
        assert requirement.lines.count() == requirement.clients == 5
    assert ClientMoneyRequirementLine.objects.count() == 10
    # the reconciliation's history keeps which requirement each run compared with
    assert [h.requirement_id for h in second.history.order_by("history_id")][-1] == (
        requirements[-1].pk
    )
    # resolved (excess withdrawn), a third run matches with a third requirement
    services.reconciliation_break_resolve(brk=brk, actor=treasury, reason="excess to house")
    third = services.reconciliation_internal_run(
        business_date=today, currency="CNY", actor=treasury
    )
    assert third.requirement.segregated_funds == third.requirement.requirement == D("3274.50")
    assert third.requirement == selectors.client_money_requirement_latest(currency="CNY")


@pytest.mark.django_db
def test_lines_are_append_only(book, treasury):
    requirement = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    line = requirement.lines.first()
    for sql in (
        "UPDATE custody_clientmoneyrequirementline SET credit = 0 WHERE id = %s",
        "DELETE FROM custody_clientmoneyrequirementline WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only evidence"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [line.pk])
    # a second line for the same client in the same requirement is refused
    with (
        pytest.raises(DatabaseError, match="custody_cmr_line_one_per_investor"),
        transaction.atomic(),
    ):
        ClientMoneyRequirementLine.objects.create(
            requirement=requirement, investor_id=line.investor_id, credit=0, debit=0,
            debit_counted=0,
        )  # fmt: skip


@pytest.mark.django_db
def test_the_staff_page_shows_the_lines_a_page_at_a_time(book, treasury, client, monkeypatch):
    requirement = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    monkeypatch.setattr(ClientMoneyRequirementView, "LINES_PER_PAGE", 2)
    login_verified(client, treasury)
    url = f"/staff/custody/client-money-requirements/{requirement.pk}/"
    ids = sorted(investor.pk for investor in book.values())

    def shown(page: str) -> list[int]:
        body = page.split('id="cmr-lines"')[1]
        return [i for i in ids if f"<tr><td>{i}</td>" in body]

    first = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert shown(first) == ids[:2]
    assert "Page 1 of 3" in first and "?page=2" in first
    assert '<dd id="cmr-requirement">3,274.50</dd>' in first
    assert '<dd id="cmr-clients">5</dd>' in first
    last = client.get(url + "?page=3", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert shown(last) == ids[4:]
    # one client's line: B's credit 300, debit 500, counted 300
    one = client.get(url + f"?investor={book['B'].pk}", HTTP_ACCEPT_LANGUAGE="en")
    body = one.content.decode()
    assert shown(body) == [book["B"].pk]
    assert '<td class="num">300.00</td><td class="num">500.00</td><td class="num">300.00</td>' in (
        body
    )
    # in Chinese: the page's title in Chinese, as the catalogue has it
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    with translation.override("zh-hans"):
        title = translation.gettext("Client-money requirement")
    assert title != "Client-money requirement" and f"<h1>{title} · CNY" in chinese
    # the treasury console links the latest requirement to its page
    treasury_page = client.get("/staff/custody/treasury/").content.decode()
    assert f'href="{url}"' in treasury_page
    # investors may not open it; an unknown requirement is a 404
    investor = book["A"].user
    client.force_login(investor)
    assert client.get(url).status_code == 403
    login_verified(client, treasury)
    assert client.get("/staff/custody/client-money-requirements/999999/").status_code == 404


@pytest.mark.django_db
def test_the_api_gives_the_lines_a_page_at_a_time(book, treasury, make_user):
    requirement = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    auditor = make_user(Role.AUDITOR)
    second_factor(auditor)
    api = APIClient()
    api.force_authenticate(auditor)
    base = f"/api/v1/custody/client-money-requirements/{requirement.pk}/"
    summary = api.get(base).json()
    assert D(summary["requirement"]) == D("3274.50")
    assert summary["clients"] == 5 and D(summary["excess"]) == D("825.50")
    page = api.get(base + "lines/?limit=2&offset=2").json()
    ids = sorted(investor.pk for investor in book.values())
    assert page["count"] == 5
    assert [row["investor"] for row in page["results"]] == ids[2:4]
    assert page["next"] and page["previous"]
    row = api.get(base + f"lines/?investor={book['D'].pk}").json()
    assert row["count"] == 1
    (d_line,) = row["results"]
    assert (D(d_line["credit"]), D(d_line["debit"]), D(d_line["debit_counted"])) == (
        D("800"),
        D("125.50"),
        D("125.50"),
    )
    assert d_line["investor_name"] == book["D"].real_name
    listed = api.get("/api/v1/custody/client-money-requirements/?currency=CNY").json()
    assert [r["id"] for r in listed["results"]] == [requirement.pk]
    assert api.get(base + "lines/?investor=x").status_code == 400
    assert api.get("/api/v1/custody/client-money-requirements/999999/lines/").status_code == 404
    investor = APIClient()
    investor.force_authenticate(book["A"].user)
    assert investor.get(base + "lines/").status_code == 403


@pytest.mark.django_db
def test_the_lines_page_costs_its_rows_not_a_count(book, treasury, django_assert_max_num_queries):
    """The lines of a page are read with their investors' names in one query; the count is
    the requirement's (no count(*) over the lines)."""
    requirement = services.client_money_requirement_compute(
        business_date=timezone.localdate(), currency="CNY", actor=treasury
    )
    api = APIClient()
    second_factor(treasury)
    api.force_authenticate(treasury)
    with django_assert_max_num_queries(12) as captured:
        api.get(f"/api/v1/custody/client-money-requirements/{requirement.pk}/lines/?limit=3")
    sql = [q["sql"].lower() for q in captured.captured_queries]
    assert not any("count(" in q and "clientmoneyrequirementline" in q for q in sql)
    assert sum("clientmoneyrequirementline" in q for q in sql) == 1


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_the_same_day_wait_for_each_other(book, treasury):
    """Two internal reconciliations of the same day at once (the beat's and a person's): the
    second waits for the first to commit (the requirement's advisory lock), then finds the
    day's reconciliation and points it at its own, later, requirement: one reconciliation,
    two requirements, each with its five lines."""
    today = timezone.localdate()
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run(hold: bool) -> None:
        try:
            with transaction.atomic():
                services.reconciliation_internal_run(
                    business_date=today, currency="CNY", actor=treasury
                )
                if hold:
                    holding.set()
                    release.wait(30)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=run, args=(True,))
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=run, args=(False,))
    second.start()
    time.sleep(1.0)
    assert second.is_alive()  # waiting for the first run's lock
    release.set()
    first.join(30)
    second.join(30)
    assert errors == []
    (reconciliation,) = Reconciliation.objects.filter(kind=ReconciliationKind.INTERNAL)
    requirements = list(ClientMoneyRequirement.objects.order_by("pk"))
    assert len(requirements) == 2 and reconciliation.requirement == requirements[-1]
    assert [r.lines.count() for r in requirements] == [5, 5]
    assert reconciliation.breaks.count() == 1
