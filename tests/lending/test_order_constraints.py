"""What PostgreSQL itself guarantees about orders and fills, whatever the code above it does:
an order never fills beyond its quantity, an exec id is booked once, a fill is never edited or
removed. Each test writes past the services, as a bug or a hand-written script would."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from lending.orders.models import Fill, Order
from tests.support import market

pytestmark = pytest.mark.django_db


@pytest.fixture
def half_filled(funded_account, book_instruments) -> Order:
    account = funded_account(financed=())
    order = market.traded(account, book_instruments["SSE:510300"], "cash_buy", 1000, "4.000")
    order = Order.objects.get(pk=order.pk)
    assert order.filled_quantity == 1000 and order.status == "filled"
    return order


def _fill(order: Order, exec_id: str, quantity) -> Fill:
    first = order.fills.first()
    return Fill.objects.create(
        order=order, exec_id=exec_id, price=Decimal("4.000"), quantity=Decimal(quantity),
        turnover=Decimal("400.00"), commission=0, stamp_duty=0, transfer_fee=0,
        executed_at=timezone.now(), entry=first.entry,
    )  # fmt: skip


def test_filled_quantity_is_the_sum_of_the_fills_and_never_exceeds_the_order(half_filled):
    with pytest.raises(IntegrityError, match="lending_order_quantities"), transaction.atomic():
        _fill(half_filled, "overfill-1", 100)
    half_filled.refresh_from_db()
    assert half_filled.filled_quantity == 1000


def test_an_exec_id_is_booked_once(half_filled):
    exec_id = half_filled.fills.get().exec_id
    Order.objects.filter(pk=half_filled.pk).update(quantity=2000)  # room for another fill
    with pytest.raises(IntegrityError, match="exec_id"), transaction.atomic():
        _fill(half_filled, exec_id, 100)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_a_fill_is_never_edited_or_removed(half_filled, change):
    rows = Fill.objects.filter(order=half_filled)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        if change == "update":
            rows.update(price=Decimal("0.01"))
        else:
            rows.delete()
