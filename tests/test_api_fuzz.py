"""Schemathesis against the live OpenAPI schema (issue 10, hostile input).

Every operation of /api/schema/ gets a bounded number of generated requests, derandomised so
a run repeats exactly, as a staff user (risk officer, in a session verified with the second
factor, which every staff write needs: a staff token may only read) and as an investor (with a
token, owning a funded credit account), with schema-valid (positive) and schema-breaking
(negative) input. Each answer must be no 5xx, and must conform to the schema: a documented
status code, the documented content type, a body matching the documented schema. The
operations with an {id} get part of their examples with the id of a real object of the seeded
book, so the fuzzer reaches past the 404.

The count of requests is printed (`-s` shows it) and asserted: the reliability document
quotes it.
"""

import os
import time
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.compliance.fixtures import login_verified
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db

EXAMPLES = 12  # per operation, identity and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app(db):
    """Django's WSGI application, called in-process inside the test's transaction. Like
    Django's test client, the requests must not close the connection at their end (that
    would end the test transaction), so close_old_connections is unhooked meanwhile."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


@pytest.fixture
def book(funded_account, staff):
    """A small real book, so the fuzzer reaches past the 404s: the investor's credit account
    after a price fall with an overdue margin call, its notices and a prepared liquidation
    plan; a mark-to-market run, a risk run and a queued filing (their tasks never run: the
    test transaction never commits). {"ids": {path prefix: id}, "identities": {identity: the
    headers and cookies that sign it in}}."""
    from django.conf import settings as django_settings
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client
    from django.utils import timezone

    from lending.liquidation import services as liquidation
    from lending.models import Notice
    from lending.mtm import services as mtm
    from lending.risk import services as risk
    from reports import services as reports
    from tests.lending.calls_fixtures import MOUTAI, PINGAN, overdue_call

    account = funded_account(
        deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=((PINGAN, 14000, "10.00"),)
    )
    investor = account.investor
    contract = account.contracts.get()
    call = overdue_call(account, staff)
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"], reason="fuzz")
    filing = reports.filing_request(kind="daily_business", as_of=timezone.now(), actor=None)
    from accounts import services as accounts_services

    # a second token of the investor's for the fuzzer's DELETE to revoke (not the one it uses)
    decoy, _token = accounts_services.api_token_issue(
        user=investor.user, name="fuzz decoy", actor=investor.user
    )
    ids = {
        "/api/v1/auth/tokens/{id}/": decoy.pk,
        "/api/v1/compliance/assessments/{id}/": investor.assessments.latest("pk").pk,
        "/api/v1/credit-accounts/{id}/": account.pk,
        "/api/v1/filings/{id}/": filing.pk,
        "/api/v1/lending/applications/{id}/": contract.application_id,
        "/api/v1/lending/contracts/{id}/": contract.pk,
        "/api/v1/liquidation-plans/{id}/": plan.pk,
        "/api/v1/margin-calls/{id}/": call.pk,
        "/api/v1/margin-notices/{id}/": Notice.objects.filter(credit_account=account)
        .latest("pk")
        .pk,
        "/api/v1/mtm-runs/{id}/": mtm.mtm_run_start(actor=staff["risk"]).pk,
        "/api/v1/risk-runs/{id}/": risk.risk_run_start(
            kind="stress", reason="fuzz", actor=staff["risk"]
        ).pk,
    }
    # the risk officer's verified session (a staff token could not write), with the CSRF
    # cookie and header a browser sends with a session
    session = login_verified(Client(), staff["risk"]).cookies[django_settings.SESSION_COOKIE_NAME]
    csrf = _get_new_csrf_string()
    identities = {
        "staff": {
            "headers": {"X-CSRFToken": csrf},
            "cookies": {session.key: session.value, django_settings.CSRF_COOKIE_NAME: csrf},
        },
        "investor": {
            "headers": {"Authorization": f"Token {api_token(investor.user)}"},
            "cookies": {},
        },
    }
    return {"ids": ids, "identities": identities}


def _id_for(path: str, ids: dict) -> int | None:
    for prefix, pk in ids.items():
        if "{id}" in path and path.startswith(prefix.split("{id}")[0] + "{id}"):
            return pk
    return None


def _modes(operation) -> list[GenerationMode]:
    """Negative input needs something to break: operations without parameters or a body
    (the security headers aside) get positive cases only."""
    headers = [h for h in operation.headers if h.name.lower() != "authorization"]
    inputs = (operation.path_parameters, operation.query, operation.body)
    if headers or any(len(group) for group in inputs):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _explore(strategy, identity: dict, tally) -> None:
    """EXAMPLES cases drawn from `strategy` (derandomised: the same cases every run), each
    sent to the app and checked. Each request runs in a savepoint, so a database error in
    one (a 500 to report) does not abort the test transaction for the next."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        # tagged like the test case's own atomic block, so that a service's durable block
        # (money movements: lending.financing.services) may run inside it, as under the test case
        savepoint = transaction.atomic()
        savepoint._from_testcase = True
        with savepoint:
            response = case.call(headers=identity["headers"], cookies=identity["cookies"])
            tally(response)
            case.validate_response(response, checks=CHECKS, headers=identity["headers"])

    run()


def test_fuzz_every_operation(schema, book):
    started = time.monotonic()
    requests: Counter = Counter()
    statuses: Counter = Counter()
    samples: dict = {}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        pk = _id_for(operation.path, book["ids"])
        for identity, signed_in in book["identities"].items():
            for mode in _modes(operation):
                strategies = [operation.as_strategy(generation_mode=mode)]
                if pk is not None:
                    strategies.append(
                        operation.as_strategy(generation_mode=mode, path_parameters={"id": pk})
                    )

                def tally(response, label=operation.label, identity=identity):
                    requests[label] += 1
                    statuses[(label, identity, response.status_code)] += 1
                    samples.setdefault((label, identity, response.status_code), response.text)

                try:
                    _explore(st.one_of(strategies), signed_in, tally)
                except FailureGroup as exc:
                    failures.append(f"{operation.label} as {identity} ({mode}):\n{exc}")
                except Exception as exc:  # report every operation's failure, not only the first
                    failures.append(f"{operation.label} as {identity} ({mode}): {exc!r}")
    elapsed = time.monotonic() - started
    total = sum(requests.values())
    print(f"\nschemathesis: {len(operations)} operations, {total} requests, {elapsed:.1f} s")
    if os.environ.get("FUZZ_STATS"):  # FUZZ_STATS=1 pytest -s: what each operation answered
        for (label, identity, status), n in sorted(statuses.items()):
            sample = samples[(label, identity, status)][:200]
            print(f"{label:55} {identity:9} {status} x{n:<3} {sample}")
    assert not failures, "\n\n".join(failures)
    assert len(operations) == len(requests) >= 55, set(requests) ^ {o.label for o in operations}
    assert total >= len(operations) * len(book["identities"]) * EXAMPLES
    # the staff identity's writes reach the views: none is refused for the second factor
    refused = [
        key for key in statuses if key[1] == "staff" and "second_factor_required" in samples[key]
    ]
    assert not refused, refused
