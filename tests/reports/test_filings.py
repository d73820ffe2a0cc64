"""Filings through the real services: PostgreSQL, WeasyPrint, poppler (no mocks)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.errors import PermissionDenied, RuleViolation
from accounts.roles import Role
from reports import canonical, selectors, services
from reports.models import Filing, FilingStatus

from .conftest import numbers, pdf_fonts, pdf_text

pytestmark = pytest.mark.django_db


def prepared(kind, actor, as_of=None, language="en"):
    as_of = as_of or timezone.now()
    filing = services.filing_request(kind=kind, as_of=as_of, actor=actor, language=language)
    filing = services.filing_generate(filing_id=filing.pk)
    assert filing.status == FilingStatus.PREPARED, filing.error
    return filing


def _line(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if re.match(rf"\s*{re.escape(label)}\b", line))


def _register(make_investor):
    make_investor()
    make_investor(category="professional")
    make_investor(
        investor_type="institution", id_type="credit_code", id_number="91110000MA0012345X"
    )


def test_register_figures_in_the_pdf_equal_the_selectors(officers, make_investor):
    # given three investors
    _register(make_investor)
    as_of = timezone.now()
    # when a register filing is generated
    filing = prepared("investor_register", officers[0], as_of)
    # then every count printed in the PDF is the count from the selectors at as_of
    investors = selectors.investors_as_of(as_of)
    text = pdf_text(filing.pdf_file.path)
    assert numbers(_line(text, "Investors")) == [str(len(investors))]
    for code in ("individual", "institution", "ordinary", "professional", "credit_code"):
        expected = sum(code in (p.investor_type, p.category, p.id_type) for p in investors)
        assert numbers(
            _line(
                text,
                {
                    "individual": "Individual",
                    "institution": "Institution",
                    "ordinary": "Ordinary investor",
                    "professional": "Professional investor",
                    "credit_code": "Unified social credit code",
                }[code],
            )
        )[-1] == (str(expected))
    # the PDF carries the desk's identity, the as-of time, the data hash and page numbers
    flat = pdf_text(filing.pdf_file.path, layout=False)
    assert settings.DESK_NAME in flat and settings.DESK_LICENSE in flat
    assert timezone.localtime(as_of).strftime("%Y-%m-%d %H:%M:%S") in flat
    assert filing.data_sha256 in flat.replace("\n", "")
    assert "Page 1 of" in flat
    # and the stored files match the hashes kept on the record
    assert canonical.sha256_hex(filing.json_file.read()) == filing.data_sha256
    assert canonical.sha256_hex(filing.pdf_file.open("rb").read()) == filing.pdf_sha256
    assert f"data.totals.investors,{len(investors)}" in filing.csv_file.open("rb").read().decode()
    # progress ticks leave no history rows: only the state changes are recorded
    statuses = [h.status for h in filing.history.order_by("history_id")]
    assert statuses == ["queued", "generating", "prepared"]
    assert filing.progress == 100


def test_segregation_figures_in_the_pdf_equal_the_custody_selectors(officers, make_investor):
    from custody import selectors as custody
    from custody.services.client import client_deposit_post

    # given two clients with money deposited
    a = make_investor(bank_account="6217000000000000111")
    b = make_investor(bank_account="6217000000000000222")
    for investor, amount, account in (
        (a, "1234.56", "6217000000000000111"),
        (b, "100000.00", "6217000000000000222"),
    ):
        client_deposit_post(
            investor=investor,
            amount=amount,
            currency="CNY",
            bank_account=account,
            reference="test",
            actor=None,
            idempotency_key=f"dep-{investor.pk}",
        )
    as_of = timezone.now()
    # when the segregation filing is generated
    filing = prepared("segregation", officers[0], as_of)
    # then the client money owed printed equals the clients' cash from custody's selectors
    owed = sum(custody.client_position(investor=i, as_of=as_of).cash["CNY"] for i in (a, b))
    trial = custody.trial_balance(as_of=as_of)
    assert owed == Decimal("101234.56")
    text = pdf_text(filing.pdf_file.path)
    row = numbers(_line(text, "CNY"))
    assert row == [f"{owed:.2f}", "2", f"{owed:.2f}", "0.00", f"{owed:.2f}", "0.00"]
    ledger_row = numbers([line for line in text.splitlines() if line.strip().startswith("CNY")][1])
    assert ledger_row == [f"{trial.totals['CNY']['debit']:.2f}"] * 2


def test_same_as_of_gives_the_same_data_hash(officers, make_investor, make_user):
    first_officer, second_officer = officers
    _register(make_investor)
    as_of = timezone.now()
    filing = prepared("investor_register", first_officer, as_of)
    first_hash, first_pdf = filing.data_sha256, filing.pdf_file.name
    # when the book changes after as_of (a category change, a new investor) ...
    profile = selectors.investors_as_of(as_of)[0]
    account_services.investor_profile_update(
        profile=profile,
        actor=make_user(Role.OPERATIONS),
        reason="reassessed",
        category="professional",
    )
    make_investor()
    # ... and the filing is regenerated for the same as-of time
    services.filing_regenerate(filing=filing, actor=second_officer, reason="check reproducible")
    filing = services.filing_generate(filing_id=filing.pk)
    # then the data hash is the same (the PDF is a new file)
    assert filing.data_sha256 == first_hash
    assert filing.pdf_file.name != first_pdf
    assert filing.prepared_by == second_officer
    # while a later as-of time sees the changes
    later = services.filing_snapshot(kind="investor_register", as_of=timezone.now())
    assert canonical.data_hash(later) != first_hash


def test_approval_is_four_eyes(officers, make_investor, make_user):
    preparer, checker = officers
    make_investor()
    filing = prepared("investor_register", preparer)
    with pytest.raises(RuleViolation) as refused:
        services.filing_approve(filing=filing, actor=preparer, reason="mine")
    assert refused.value.code == "four_eyes"
    with pytest.raises(PermissionDenied):
        services.filing_approve(filing=filing, actor=make_user(Role.TREASURY), reason="x")
    filing = services.filing_approve(filing=filing, actor=checker, reason="figures checked")
    assert (filing.status, filing.approved_by) == (FilingStatus.APPROVED, checker)
    latest = filing.history.latest()
    assert latest.history_user == checker
    assert latest.history_change_reason == "approved: figures checked"


def test_a_tampered_file_is_not_approved(officers, make_investor):
    make_investor()
    filing = prepared("investor_register", officers[0])
    with open(filing.csv_file.path, "ab") as handle:
        handle.write(b"x,1\n")
    with pytest.raises(Exception) as refused:
        services.filing_approve(filing=filing, actor=officers[1], reason="ok")
    assert refused.value.code == "file_altered"


def test_submitted_filing_is_immutable_and_corrected_by_a_new_version(officers, make_investor):
    preparer, checker = officers
    make_investor()
    filing = prepared("investor_register", preparer)
    filing = services.filing_approve(filing=filing, actor=checker, reason="checked")
    filing = services.filing_submit(
        filing=filing, actor=checker, reason="sent", submission_reference="CSRC-2026-001"
    )
    assert filing.status == FilingStatus.SUBMITTED
    # the services refuse every change
    for action in (services.filing_regenerate, services.filing_approve, services.filing_submit):
        with pytest.raises(RuleViolation) as refused:
            action(filing=filing, actor=checker, reason="again")
        assert refused.value.code == "filing_submitted"
    # and PostgreSQL refuses raw UPDATE and DELETE of the row
    for sql in (
        "UPDATE reports_filing SET submission_reference = 'changed' WHERE id = %s",
        "UPDATE reports_filing SET status = 'prepared' WHERE id = %s",
        "DELETE FROM reports_filing WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [filing.pk])
    filing.refresh_from_db()
    assert (filing.status, filing.submission_reference) == ("submitted", "CSRC-2026-001")
    # a correction is a new version that references the one it replaces
    correction = services.filing_correct(filing=filing, actor=preparer, reason="typo in data")
    assert (correction.version, correction.replaces, correction.as_of) == (2, filing, filing.as_of)
    correction = services.filing_generate(filing_id=correction.pk)
    assert correction.data_sha256 == filing.data_sha256
    with pytest.raises(Exception) as twice:
        services.filing_correct(filing=filing, actor=preparer, reason="again")
    assert twice.value.code == "filing_already_corrected"


def test_chinese_text_is_rendered_with_an_embedded_cjk_font(officers, make_investor):
    make_investor(investor_type="institution", id_type="credit_code", id_number="91110000MA0099")
    filing = prepared("investor_register", officers[0], language="zh-hans")
    fonts = pdf_fonts(filing.pdf_file.path).splitlines()[2:]
    cjk = [line for line in fonts if re.search(r"Noto.?Sans.?CJK|Noto.?Serif.?CJK", line)]
    assert cjk, fonts
    assert all(line.split()[-5] == "yes" for line in cjk)  # emb column
    text = pdf_text(filing.pdf_file.path, layout=False)
    for chinese in ("机构", "统一社会信用代码", "普通投资者"):
        assert chinese in text
    assert "\ufffd" not in text


def test_every_kind_is_built_from_data_and_unknown_kinds_are_refused(officers):
    from reports.kinds import kind_get, kinds_all

    assert all(kind.available for kind in kinds_all())
    with pytest.raises(Exception) as refused:
        kind_get("made_up")
    assert refused.value.code == "validation_error"


def test_future_as_of_and_duplicates_are_refused(officers):
    with pytest.raises(Exception) as future:
        services.filing_request(
            kind="investor_register",
            as_of=timezone.now() + timedelta(hours=1),
            actor=officers[0],
        )
    assert future.value.code == "validation_error"
    as_of = timezone.now()
    services.filing_request(kind="investor_register", as_of=as_of, actor=officers[0])
    with pytest.raises(Exception) as duplicate:
        services.filing_request(kind="investor_register", as_of=as_of, actor=officers[1])
    assert duplicate.value.code == "filing_exists"


def test_end_of_day_schedule_queues_each_daily_kind_once(django_capture_on_commit_callbacks):
    # the end of day's last step (reports.eod.steps), after the 17:00 cut-off
    assert settings.CELERY_BEAT_SCHEDULE["reports-end-of-day"]["task"] == (
        "reports.tasks.eod_run_daily"
    )
    yesterday = timezone.localdate() - timedelta(days=1)
    with django_capture_on_commit_callbacks() as callbacks:
        created = services.filings_prepare_daily(day=yesterday)
    daily = ["concentration", "daily_business", "investor_register", "segregation"]
    assert sorted(f.kind for f in created) == daily
    assert len(callbacks) == len(daily)
    assert services.filings_prepare_daily(day=yesterday) == []
    assert Filing.objects.count() == len(daily)
