"""A money request retried with its Idempotency-Key, on a live server (real HTTP, one thread
per request, each with its own database connection), for an order (a financed buy) and a cash
withdrawal:

* the response is lost: the first request completes server-side (committed) but answers after
  the client's timeout; the client retries with the same key and gets the same result;
* the retry arrives while the first is still in flight: the first is held inside its
  transaction (after its row is written, before commit); the retry with the same body waits
  for it and gets the same result; one with another body gets 409 naming the key.

Each time: exactly one business row for the key, its journal entries (one for a withdrawal,
none for an order: only the exchange's fills book), the expected postings and no others, trial
balance zero."""

import threading
import time
from decimal import Decimal, InvalidOperation

import pytest
import requests
from django.db import connection

from custody.models import JournalEntry
from lending.models import WithdrawalRequest
from lending.orders.models import Order
from tests.faults.conftest import assert_ledger_intact, ledger_state, report
from tests.support.tokens import api_token

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KINDS = {
    "order": {
        "path": "orders",
        "body": {
            "instrument": "SZSE:000001",
            "purpose": "financed_buy",
            "quantity": "1000",
            "limit_price": "10.00",
        },
        "other": {
            "instrument": "SZSE:000001",
            "purpose": "financed_buy",
            "quantity": "2000",
            "limit_price": "10.00",
        },
        "render": ("lending.orders.api", "order_data"),
        "inside": ("lending.orders.services", "_order_create"),
        "model": Order,
        "entries": 0,  # placing books nothing: the exchange's fills do
        "postings": 0,
    },
    "withdrawal": {
        "path": "withdrawals",
        "body": {"kind": "cash", "amount": "1000.00"},
        "other": {"kind": "cash", "amount": "2000.00"},
        "render": ("lending.financing.api", "withdrawal_data"),
        "inside": ("custody.services", "client_withdrawal_post_in_transaction"),
        "model": WithdrawalRequest,
        "entries": 1,
        "postings": 2,  # client money / client bank
    },
}


@pytest.fixture
def short_lived_connections():
    """The live server answers each request in a new thread; with persistent connections
    (CONN_MAX_AGE) each would leave one open behind it, and the test database could not be
    dropped at the end of the session. Close them at the end of each request instead."""
    saved = connection.settings_dict.get("CONN_MAX_AGE")
    connection.settings_dict["CONN_MAX_AGE"] = 0
    try:
        yield
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = saved


@pytest.fixture
def client_api(short_lived_connections, live_server, funded_account):
    """post(kind, body, key, timeout) against the live server as the account's investor."""
    account = funded_account()
    user = account.investor.user
    token = api_token(user)

    def post(kind: str, body: dict, key: str, timeout: float = 30) -> requests.Response:
        url = f"{live_server.url}/api/v1/credit-accounts/{account.pk}/{KINDS[kind]['path']}/"
        headers = {
            "Authorization": f"Token {token}",
            "Idempotency-Key": key,
            "Accept-Language": "en",
        }
        return requests.post(url, json=body, headers=headers, timeout=timeout)

    post.user = user
    return post


def held_once(monkeypatch, module_name: str, name: str):
    """Wrap module.name: its first call runs, then signals `entered` and waits for `release`
    (or 10 s); later calls run as they are."""
    import importlib

    module = importlib.import_module(module_name)
    original = getattr(module, name)
    entered, release, done = threading.Event(), threading.Event(), threading.Event()
    first = threading.Lock()

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if first.acquire(blocking=False):
            entered.set()
            release.wait(10)
            done.set()
        return result

    monkeypatch.setattr(module, name, wrapper)
    return entered, release, done


def same_result(a: dict, b: dict) -> bool:
    """Equal answers, decimal strings compared by value: the first answer is rendered from the
    object the service built, a repeat from the row read back ("0.000000" vs "0.00" for a
    default of 0)."""

    def value(v):
        try:
            return Decimal(v) if isinstance(v, str) else v
        except InvalidOperation:
            return v

    return a.keys() == b.keys() and all(value(a[k]) == value(b[k]) for k in a)


def rows_for(kind: str, user, key: str) -> tuple[int, int]:
    scoped = f"api:{user.pk}:{key}"
    model = KINDS[kind]["model"]
    return (
        model.objects.filter(idempotency_key=scoped).count(),
        JournalEntry.objects.filter(idempotency_key__endswith=f":{scoped}").count(),
    )


@pytest.mark.parametrize("kind", ["order", "withdrawal"])
def test_retry_after_the_response_was_lost(kind, client_api, monkeypatch):
    spec, key = KINDS[kind], f"{kind}-lost-1"
    before = ledger_state()
    rendered, release, done = held_once(monkeypatch, *spec["render"])

    # given: the first request commits, then its answer is late: the client gives up
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client_api(kind, spec["body"], key, timeout=1.0)
    timed_out_after = time.monotonic() - t0
    assert rendered.wait(20), "the first request never completed server-side"

    # when: the client retries with the same key
    t1 = time.monotonic()
    retry = client_api(kind, spec["body"], key)
    retry_seconds = time.monotonic() - t1
    release.set()
    assert done.wait(10)

    # then: the first result, once
    assert retry.status_code == 201, retry.text
    assert rows_for(kind, client_api.user, key) == (1, spec["entries"])
    first = spec["model"].objects.get(idempotency_key=f"api:{client_api.user.pk}:{key}")
    assert retry.json()["id"] == first.pk
    again = client_api(kind, spec["body"], key)
    assert again.status_code == 201 and again.json() == retry.json()
    conflict = client_api(kind, spec["other"], key)
    assert conflict.status_code == 409, conflict.text
    assert key in conflict.json()["message"]
    assert rows_for(kind, client_api.user, key) == (1, spec["entries"])
    assert_ledger_intact(
        before, ledger_state(), new_entries=spec["entries"], new_postings=spec["postings"]
    )
    report(
        f"idempotency-lost-response[{kind}]: client timed out after {timed_out_after:.1f}s "
        f"(server committed, answer held); retry answered 201 with the first result in "
        f"{retry_seconds:.2f}s; 2 retries + 1 conflicting body (409 naming the key); "
        f"{spec['entries']} journal entry, {spec['postings']} postings, trial balance zero"
    )


@pytest.mark.parametrize("kind", ["order", "withdrawal"])
def test_retry_while_the_first_is_in_flight(kind, client_api, monkeypatch):
    spec, key = KINDS[kind], f"{kind}-inflight-1"
    before = ledger_state()
    entered, release, done = held_once(monkeypatch, *spec["inside"])
    answers: dict[str, requests.Response | BaseException] = {}
    seconds: dict[str, float] = {}

    def send(name: str, body: dict):
        t = time.monotonic()
        try:
            answers[name] = client_api(kind, body, key)
        except BaseException as exc:  # reported by the assertions below
            answers[name] = exc
        seconds[name] = time.monotonic() - t

    # given: the first request held inside its transaction (entry written, not committed)
    first = threading.Thread(target=send, args=("first", spec["body"]))
    first.start()
    assert entered.wait(20), "the first request never reached its transaction"

    # when: the same request again, and another body with the same key, meanwhile
    retry = threading.Thread(target=send, args=("retry", spec["body"]))
    other = threading.Thread(target=send, args=("other", spec["other"]))
    retry.start()
    other.start()
    time.sleep(1.0)  # both are in the server by now, waiting for the first
    assert not answers, "a request answered while the first still held its transaction"
    release.set()
    for thread in (first, retry, other):
        thread.join(30)

    # then: the first result for the retry, a conflict for the other body, one entry
    assert done.is_set()
    a, b, c = answers["first"], answers["retry"], answers["other"]
    assert isinstance(a, requests.Response) and a.status_code == 201, a
    assert isinstance(b, requests.Response) and b.status_code == 201, getattr(b, "text", b)
    assert same_result(b.json(), a.json()), (a.json(), b.json())
    assert isinstance(c, requests.Response) and c.status_code == 409, getattr(c, "text", c)
    assert key in c.json()["message"]
    assert rows_for(kind, client_api.user, key) == (1, spec["entries"])
    assert_ledger_intact(
        before, ledger_state(), new_entries=spec["entries"], new_postings=spec["postings"]
    )
    report(
        f"idempotency-in-flight[{kind}]: first held {seconds['first']:.1f}s inside its "
        f"transaction; same-key retry waited {seconds['retry']:.1f}s and answered 201 with the "
        f"first result; other body answered 409 naming the key; {spec['entries']} journal entry, "
        f"{spec['postings']} postings, trial balance zero"
    )
