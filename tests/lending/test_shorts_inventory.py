"""The lending inventory (券源, issue 22 item 1): house shares booked from the custodian's
confirmation into the house lendable account, refinancing (转融通) only while the dated switch
is on, reservations held for orders (reserve, release, lend on a fill, return on a cover), the
staff page, the API and the investor's page of what can be shorted.

Worked by hand (SSE:600519):
    add 10,000 house shares from confirmation CSDC-L1: Dr custodian 10,000 / Cr house
    securities (lendable) 10,000; the lot: quantity 10,000, reserved 0, lent 0, available 10,000
    reserve 3,000                      -> reserved 3,000, available 7,000
    reserve 8,000                      -> refused: 8,000 > 7,000 available (field quantity)
    lend 3,000 (the order fills)       -> reserved 0, lent 3,000, available 7,000
    return 1,000 (covered)             -> lent 2,000, available 8,000
"""

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from accounts.errors import Conflict, PermissionDenied, RuleViolation
from compliance import selectors as compliance_selectors
from compliance import services as compliance_services
from compliance.models import RegulatoryParameter
from custody.selectors import trial_balance
from lending.instruments import exchange_lists
from lending.shorts import selectors, services
from lending.shorts.models import (
    LendingLot,
    LendingLotWithdrawal,
    LotSource,
    ReservationStatus,
    ShortReservation,
)
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

D = Decimal
STAFF_URL = "/staff/lending/shorts/inventory/"
PORTAL_URL = "/portal/lending/shorts/"


def _numbers(lot: LendingLot) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    lot.refresh_from_db()
    return lot.quantity, lot.reserved, lot.lent, lot.available


def _add(instrument, quantity="10000", reference="CSDC-L1", actor=None) -> LendingLot:
    return services.inventory_house_add(
        instrument=instrument,
        quantity=quantity,
        confirmation_reference=reference,
        actor=actor,
        reason="house shares confirmed by the custodian",
    )


def _switch_rows() -> None:
    """The dated switch as compliance seeds it (added here when the seed is absent)."""
    rows = (
        (date(2019, 1, 1), D("1"), "CSRC/SFC 转融通 rules"),
        (date(2024, 7, 11), D("0"), "CSRC release of 2024-07-10"),
    )
    for effective_from, value, source in rows:
        if not RegulatoryParameter.objects.filter(
            key=selectors.REFINANCING_ENABLED, effective_from=effective_from
        ).exists():
            compliance_services.parameter_add(
                key=selectors.REFINANCING_ENABLED,
                effective_from=effective_from,
                value=value,
                source=source,
                actor=None,
            )


def test_house_shares_from_a_confirmation_are_reserved_lent_and_returned(book_instruments, staff):
    moutai = book_instruments["SSE:600519"]
    # given: 10,000 house shares confirmed by the custodian, added by operations
    lot = _add(moutai, actor=staff["ops"])
    assert _numbers(lot) == (D("10000"), D("0"), D("0"), D("10000"))
    assert lot.source == LotSource.HOUSE and lot.confirmed_quantity == D("10000")
    legs = {p.account.purpose_key: p.amount for p in lot.entry.postings.select_related("account")}
    assert legs == {
        "house:custodian:SSE:600519": D("10000"),
        "house:house_securities:lendable:SSE:600519": D("-10000"),
    }
    assert lot.entry.kind == "securities" and trial_balance().balanced
    assert lot.history.get().history_user == staff["ops"]
    # one confirmation is one lot
    with pytest.raises(Conflict, match="CSDC-L1 was already used"):
        _add(moutai, actor=staff["ops"])

    # when: 3,000 reserved for an order
    first = services.shares_reserve(
        instrument=moutai, quantity="3000", actor=None, reason="order 1", reference="order 1"
    )
    assert first.status == ReservationStatus.RESERVED
    assert _numbers(lot) == (D("10000"), D("3000"), D("0"), D("7000"))
    assert selectors.available_quantity(moutai) == D("7000")

    # then: 8,000 more is refused, naming the field and what is available
    with pytest.raises(RuleViolation) as refused:
        services.shares_reserve(instrument=moutai, quantity="8000", actor=None, reason="order 2")
    assert refused.value.code == "inventory_not_available"
    assert refused.value.extra["field"] == "quantity"
    assert refused.value.extra["available"] == "7000"
    assert refused.value.message.startswith("quantity: 8,000 shares of SSE:600519 exceed the 7,000")
    assert ShortReservation.objects.count() == 1

    # the order fills: reserved -> lent
    first = services.reservation_lend(reservation=first, quantity="3000", actor=None, reason="fill")
    assert first.status == ReservationStatus.LENT
    assert _numbers(lot) == (D("10000"), D("0"), D("3000"), D("7000"))
    with pytest.raises(RuleViolation, match="exceed the 0 still reserved"):
        services.reservation_lend(reservation=first, quantity="1", actor=None, reason="fill")

    # 1,000 covered: lent -> available
    first = services.reservation_return(
        reservation=first, quantity="1000", actor=None, reason="cover"
    )
    assert (first.lent, first.returned, first.outstanding_lent) == (D("3000"), D("1000"), D("2000"))
    assert _numbers(lot) == (D("10000"), D("0"), D("2000"), D("8000"))
    assert selectors.available_quantity(moutai) == D("8000")
    allocation = first.allocations.get()
    assert (allocation.quantity, allocation.lent, allocation.returned) == (
        D("3000"),
        D("3000"),
        D("1000"),
    )
    with pytest.raises(RuleViolation, match="exceed the 2,000 lent"):
        services.reservation_return(reservation=first, quantity="2001", actor=None, reason="x")

    # PostgreSQL refuses reserved + lent beyond quantity, whoever writes the row
    with pytest.raises(IntegrityError), transaction.atomic():
        LendingLot.objects.filter(pk=lot.pk).update(reserved=D("8001"))


def test_a_reservation_spreads_over_lots_and_is_released(book_instruments, staff):
    pingan = book_instruments["SZSE:000001"]
    older = _add(pingan, quantity="1000", reference="CSDC-A", actor=staff["ops"])
    newer = _add(pingan, quantity="2000", reference="CSDC-B", actor=staff["ops"])
    # 2,500 = 1,000 from the older lot + 1,500 from the newer
    reservation = services.shares_reserve(
        instrument=pingan, quantity="2500", actor=staff["risk"], reason="desk locate"
    )
    assert _numbers(older) == (D("1000"), D("1000"), D("0"), D("0"))
    assert _numbers(newer) == (D("2000"), D("1500"), D("0"), D("500"))
    # 1,200 filled (1,000 + 200), the rest released when the order is cancelled
    services.reservation_lend(reservation=reservation, quantity="1200", actor=None, reason="fill")
    reservation = services.reservation_release(
        reservation=reservation, actor=staff["risk"], reason="order cancelled"
    )
    assert (reservation.lent, reservation.released) == (D("1200"), D("1300"))
    assert reservation.status == ReservationStatus.LENT
    assert _numbers(older) == (D("1000"), D("0"), D("1000"), D("0"))
    assert _numbers(newer) == (D("2000"), D("0"), D("200"), D("1800"))
    with pytest.raises(Conflict, match="holds nothing reserved"):
        services.reservation_release(reservation=reservation, actor=None, reason="again")
    # returned to the latest allocation first: 200 to the newer lot, then 300 to the older
    reservation = services.reservation_return(
        reservation=reservation, quantity="500", actor=None, reason="cover"
    )
    assert _numbers(newer) == (D("2000"), D("0"), D("0"), D("2000"))
    assert _numbers(older) == (D("1000"), D("0"), D("700"), D("300"))
    reservation = services.reservation_return(
        reservation=reservation, quantity="700", actor=None, reason="cover"
    )
    assert reservation.status == ReservationStatus.RETURNED
    assert selectors.available_quantity(pingan) == D("3000")


def test_unreserved_shares_are_withdrawn_back_to_the_house(book_instruments, staff):
    moutai = book_instruments["SSE:600519"]
    lot = _add(moutai, quantity="5000", actor=staff["ops"])
    services.shares_reserve(instrument=moutai, quantity="1000", actor=None, reason="order")
    with pytest.raises(RuleViolation, match="4,000 of lot CSDC-L1 neither reserved nor lent"):
        services.inventory_withdraw(lot=lot, quantity="4001", actor=staff["ops"], reason="sold")
    withdrawal = services.inventory_withdraw(
        lot=lot, quantity="4000", actor=staff["ops"], reason="needed for the house's own sale"
    )
    assert _numbers(lot) == (D("1000"), D("1000"), D("0"), D("0"))
    assert lot.confirmed_quantity == D("5000")
    legs = {
        p.account.purpose_key: p.amount for p in withdrawal.entry.postings.select_related("account")
    }
    assert legs == {
        "house:house_securities:lendable:SSE:600519": D("4000"),
        "house:house_securities:SSE:600519": D("-4000"),
    }
    assert trial_balance().balanced
    # the withdrawal is evidence: PostgreSQL refuses to edit it
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LendingLotWithdrawal.objects.filter(pk=withdrawal.pk).update(quantity=D("1"))


def test_refinancing_only_while_the_dated_switch_is_on(book_instruments, staff):
    _switch_rows()
    moutai = book_instruments["SSE:600519"]
    assert selectors.refinancing_enabled(date(2024, 7, 10)) is True
    assert selectors.refinancing_enabled(date(2024, 7, 11)) is False
    assert selectors.refinancing_enabled(date(2018, 12, 31)) is False  # no row: off
    with pytest.raises(RuleViolation) as refused:
        services.inventory_refinancing_add(
            instrument=moutai,
            quantity="2000",
            confirmation_reference="CSF-711",
            actor=staff["ops"],
            reason="refinanced shares",
            on=date(2024, 7, 11),
        )
    assert refused.value.code == "refinancing_suspended"
    assert refused.value.extra["field"] == "source"
    assert LendingLot.objects.count() == 0
    lot = services.inventory_refinancing_add(
        instrument=moutai,
        quantity="2000",
        confirmation_reference="CSF-710",
        actor=staff["ops"],
        reason="refinanced shares",
        on=date(2024, 7, 10),
    )
    assert (lot.source, lot.acquired_on, lot.quantity) == (
        LotSource.REFINANCING,
        date(2024, 7, 10),
        D("2000"),
    )
    legs = {p.account.purpose_key: p.amount for p in lot.entry.postings.select_related("account")}
    assert legs == {
        "house:custodian:SSE:600519": D("2000"),
        "house:house_securities:refinancing:SSE:600519": D("-2000"),
    }
    # while suspended, refinancing lots lend nothing; on 2024-07-10 they could
    assert selectors.available_quantity(moutai) == D("0")
    assert selectors.available_quantity(moutai, on=date(2024, 7, 10)) == D("2000")
    with pytest.raises(RuleViolation, match="exceed the 0 available"):
        services.shares_reserve(instrument=moutai, quantity="100", actor=None, reason="order")


def test_a_role_without_the_permission_is_refused(book_instruments, staff, make_investor, client):
    moutai = book_instruments["SSE:600519"]
    for who in (staff["auditor"], staff["compliance"], make_investor().user):
        with pytest.raises(PermissionDenied):
            _add(moutai, actor=who)
    lot = _add(moutai, actor=staff["ops"])
    with pytest.raises(PermissionDenied):
        services.inventory_withdraw(lot=lot, quantity="1", actor=staff["auditor"], reason="x")
    with pytest.raises(PermissionDenied):
        services.shares_reserve(
            instrument=moutai, quantity="1", actor=staff["ops"], reason="not theirs"
        )
    assert LendingLot.objects.count() == 1 and ShortReservation.objects.count() == 0
    # the page refuses the write before anything is touched
    login_verified(client, staff["compliance"])
    assert client.get(STAFF_URL).status_code == 200  # may read
    form = {
        "action": "add", "source": "house", "instrument": "SSE:600519", "quantity": "100",
        "confirmation_reference": "CSDC-X", "reason": "x",
    }  # fmt: skip
    assert client.post(STAFF_URL, form).status_code == 403
    assert LendingLot.objects.count() == 1


def test_the_staff_page_adds_withdraws_and_releases(book_instruments, staff, client):
    login_verified(client, staff["ops"])
    form = {
        "action": "add", "source": "house", "instrument": "SSE:600519", "quantity": "10000",
        "confirmation_reference": "CSDC-P1", "reason": "house shares confirmed",
    }  # fmt: skip
    assert client.post(STAFF_URL, form).status_code == 302
    again = client.post(STAFF_URL, form, HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 400 and "CSDC-P1 was already used" in again.content.decode()
    lot = LendingLot.objects.get()
    reservation = services.shares_reserve(
        instrument=lot.instrument, quantity="3000", actor=None, reason="order"
    )
    withdraw = {"action": "withdraw", "lot": lot.pk, "quantity": "2000", "reason": "house sale"}
    assert client.post(STAFF_URL, withdraw).status_code == 302
    assert _numbers(lot) == (D("8000"), D("3000"), D("0"), D("5000"))
    # operations may not release a reservation (risk may)
    release = {"action": "release", "reservation": reservation.pk, "reason": "stale order"}
    assert client.post(STAFF_URL, release).status_code == 403
    login_verified(client, staff["risk"])
    assert client.post(STAFF_URL, release).status_code == 302
    assert _numbers(lot) == (D("8000"), D("0"), D("0"), D("8000"))
    english = client.get(STAFF_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Lending inventory" in english and "8,000" in english and "House holdings" in english
    chinese = client.get(STAFF_URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "券源" in chinese and "8,000" in chinese and "自有证券" in chinese
    assert "Lending inventory" not in chinese and "House holdings" not in chinese


def test_the_portal_shows_what_can_be_shorted_in_both_languages(
    book_instruments, staff, make_investor, client
):
    moutai, pingan, etf = (book_instruments[u] for u in ("SSE:600519", "SZSE:000001", "SSE:510300"))
    _add(moutai, quantity="10000", reference="CSDC-1", actor=staff["ops"])
    _add(pingan, quantity="5000", reference="CSDC-2", actor=staff["ops"])
    _add(etf, quantity="2000", reference="CSDC-3", actor=staff["ops"])
    services.shares_reserve(instrument=moutai, quantity="3000", actor=None, reason="order")
    services.shares_reserve(instrument=etf, quantity="2000", actor=None, reason="order")
    client.force_login(make_investor().user)
    # no short-sale target list in force yet: nothing can be shorted
    assert "600519" not in client.get(PORTAL_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # SSE's list names 600519 and 510300; SZSE has none in force (000001 stays off)
    today = compliance_selectors.today()
    exchange_lists.exchange_list_import(
        exchange="SSE",
        kind="short_target",
        effective_on=today,
        file_name="sse-short-targets.csv",
        content="code\n600519\n510300\n",
        actor=staff["risk"],
        reason="daily exchange list",
    )
    assert [row.instrument.ledger_unit for row in selectors.shortable(on=today)] == ["SSE:600519"]
    english = client.get(PORTAL_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200
    page = english.content.decode()
    assert "Short selling" in page and "SSE:600519" in page and "7,000" in page
    assert "SZSE:000001" not in page  # not on a target list
    assert "SSE:510300" not in page  # on the list, nothing available
    chinese = client.get(PORTAL_URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "融券" in chinese and "SSE:600519" in chinese and "7,000" in chinese
    assert "Short selling" not in chinese


def test_the_api_lists_and_adds_with_an_idempotency_key(book_instruments, staff):
    api = APIClient()
    api.force_authenticate(staff["ops"])
    url = "/api/v1/shorts/inventory/"
    body = {
        "instrument": "SSE:600519", "quantity": "10000", "confirmation_reference": "CSDC-API",
        "reason": "house shares confirmed",
    }  # fmt: skip
    missing = api.post(url, body, format="json")
    assert missing.status_code == 400 and missing.json()["message"].startswith("Idempotency-Key")
    made = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["source"], data["quantity"], data["available"]) == ("house", "10000", "10000")
    repeat = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert repeat.status_code == 201 and repeat.json()["id"] == data["id"]
    other = api.post(url, {**body, "quantity": "5"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409
    assert LendingLot.objects.count() == 1
    services.shares_reserve(
        instrument=book_instruments["SSE:600519"], quantity="3000", actor=None, reason="order"
    )
    listed = api.get(url)
    assert listed.status_code == 200
    (row,) = listed.json()
    assert (row["instrument"], row["quantity"], row["reserved"], row["lent"], row["available"]) == (
        "SSE:600519",
        "10000",
        "3000",
        "0",
        "7000",
    )
    assert row["sources"] == ["house"] and row["lots"][0]["confirmation_reference"] == "CSDC-API"
    api.force_authenticate(staff["auditor"])
    assert api.get(url).status_code == 200
    refused = api.post(
        url, {**body, "confirmation_reference": "CSDC-AUD"}, format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )  # fmt: skip
    assert refused.status_code == 403 and LendingLot.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_reservations_at_once_never_reserve_more_than_the_lot(book_instruments, staff):
    """Each reservation in its own PostgreSQL session (threads need committed rows). The first
    reserves 6,000 of 10,000 and keeps its transaction open; the second, for 6,000 too, waits
    for the lot's row lock, then reads 4,000 available and is refused (never both accepted)."""
    moutai = book_instruments["SSE:600519"]
    lot = _add(moutai, quantity="10000", actor=staff["ops"])
    reserved, finish, results = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                services.shares_reserve(instrument=moutai, quantity="6000", actor=None, reason="a")
                reserved.set()
                finish.wait(20)
            results["first"] = "reserved"
        finally:
            connection.close()

    def second():
        try:
            services.shares_reserve(instrument=moutai, quantity="6000", actor=None, reason="b")
            results["second"] = "reserved"
        except RuleViolation as exc:
            results["second"] = exc
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert reserved.wait(20)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(1)
    assert two.is_alive()  # waiting for the lot's lock
    finish.set()
    one.join(20)
    two.join(20)
    assert results["first"] == "reserved"
    assert isinstance(results["second"], RuleViolation)
    assert results["second"].extra["available"] == "4000"
    assert _numbers(lot) == (D("10000"), D("6000"), D("0"), D("4000"))
