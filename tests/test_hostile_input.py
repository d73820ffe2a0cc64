"""Hostile input against every money field of the API (issue 10).

Each API field that carries money, a price, a quantity or a ratio goes through the one
AmountField (accounts.api_fields). Every hostile value (NaN, infinities, exponents, floats,
negatives, zero, too many places, too many digits, junk) posted to every such field must
answer 400 {"code": "validation_error", "message": "<field>: ...", "extra": {"field",
"rule", ...}} and leave every table as it was (nothing half-written: a batch of price ticks
with one bad tick stores none). The fields' precision must match the database columns, and
the schema must document every money field as such. Regression tests for the bugs the
schemathesis run (tests/test_api_fuzz.py) and these probes found close the file.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_fields import (
    ANY,
    NON_NEGATIVE,
    POSITIVE,
    AmountField,
    money_field,
    price_field,
    quantity_field,
    ratio_field,
)
from tests.lending.book_fixtures import trial_balance_is_zero

pytestmark = pytest.mark.django_db

# --- what is hostile -------------------------------------------------------------------------

# (value, rule) refused by every amount field, whatever its sign and precision
ALWAYS = [
    ("NaN", "not_finite"),
    ("nan", "not_finite"),
    ("-NaN", "not_finite"),
    ("sNaN", "not_finite"),
    ("Infinity", "not_finite"),
    ("-Infinity", "not_finite"),
    ("inf", "not_finite"),
    ("1e999", "exponent"),
    ("-1e999", "exponent"),
    ("1E+2", "exponent"),
    ("5e-3", "exponent"),
    ("0x10", "invalid"),
    ("abc", "invalid"),
    ("", "invalid"),
    ("1_000", "invalid"),
    ("１２３", "invalid"),  # full-width digits: Decimal() reads them, the API does not
    ("+5", "invalid"),
    ("1 000", "invalid"),
    ("9" * 65, "too_long"),
    (1.5, "not_a_string"),  # a JSON float
    (True, "not_a_string"),
    ([1], "not_a_string"),
    ({"amount": "1"}, "not_a_string"),
    (None, "null"),
]
NEGATIVE = [("-1", "negative"), ("-0.01", "negative")]
ZERO = [("0", "zero"), ("0.00", "zero"), ("-0", "zero")]


def hostile_values(field: AmountField) -> list[tuple[object, str]]:
    values = list(ALWAYS)
    if field.sign in (POSITIVE, NON_NEGATIVE):
        values += NEGATIVE
    if field.sign == POSITIVE:
        values += ZERO
    one_place_too_many = "1." + "0" * field.decimal_places + "1"
    values.append((one_place_too_many, "not_whole" if field.decimal_places == 0 else "too_precise"))
    values.append(("1" + "0" * field.whole_digits, "too_large"))
    # too many digits on both sides: refused as too large, never a 500 from quantize()
    values.append(("9" * 40 + "." + "9" * 23, "too_large"))
    return values


# --- the money fields of the API ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One money field of one endpoint: who posts, where, the body with the value in it,
    the field's name in the answer, the field (sign and precision), and a valid value."""

    name: str
    actor: str  # a key of the `world` fixture's clients
    url: str  # formatted with the world's ids
    field: str  # as the answer names it (ticks[1].price for nested input)
    amount: AmountField
    valid: str
    body: object  # callable(value, world) -> request body

    def build(self, value, world) -> dict:
        return self.body(value, world)


def _tick(value):
    return {"instrument": "SSE:600519", "price": value, "at": timezone.now().isoformat()}


TARGETS = [
    Target(
        "price ticks",
        "risk",
        "/api/v1/prices/",
        "ticks[1].price",
        price_field(),
        "101.25",
        lambda v, w: {"ticks": [_tick("100.00"), _tick(v)]},  # the good tick is not kept either
    ),
    Target(
        "order quantity",
        "investor",
        "/api/v1/credit-accounts/{account}/orders/",
        "quantity",
        quantity_field(),
        "100",
        lambda v, w: {
            "instrument": "SZSE:000001",
            "purpose": "financed_buy",
            "quantity": v,
            "limit_price": "10.00",
        },
    ),
    Target(
        "order limit price",
        "investor",
        "/api/v1/credit-accounts/{account}/orders/",
        "limit_price",
        price_field(),
        "10.00",
        lambda v, w: {
            "instrument": "SZSE:000001",
            "purpose": "financed_buy",
            "quantity": "100",
            "limit_price": v,
        },
    ),
    Target(
        "cash withdrawal",
        "investor",
        "/api/v1/credit-accounts/{account}/withdrawals/",
        "amount",
        money_field(),
        "100.00",
        lambda v, w: {"kind": "cash", "amount": v},
    ),
    Target(
        "securities withdrawal",
        "investor",
        "/api/v1/credit-accounts/{account}/withdrawals/",
        "quantity",
        quantity_field(),
        "100",
        lambda v, w: {"kind": "securities", "instrument": "SSE:600519", "quantity": v},
    ),
    Target(
        "credit application",
        "applicant",
        "/api/v1/lending/applications/",
        "requested_limit",
        money_field(),
        "200000.00",
        lambda v, w: {"requested_limit": v, "requested_term_months": 6},
    ),
    Target(
        "credit review",
        "ops",
        "/api/v1/lending/applications/{application}/prepare/",
        "proposed_limit",
        money_field(),
        "200000.00",
        lambda v, w: {
            "credit_grade": "B",
            "collateral_liquidity": "high",
            "proposed_limit": v,
            "proposed_term_months": 6,
            "note": "assets verified",
        },
    ),
    Target(
        "daily assets",
        "compliance",
        "/api/v1/compliance/daily-assets/",
        "figures[1].total_assets",
        money_field(sign=NON_NEGATIVE),
        "0.00",
        lambda v, w: {
            "investor": w["applicant_id"],
            "figures": [
                {"date": "2026-03-05", "total_assets": "900000.00"},
                {"date": "2026-03-06", "total_assets": v},
            ],
        },
    ),
    *[
        Target(
            f"simulator {name}",
            "anonymous",
            "/api/v1/simulator/leverage/",
            name,
            amount,
            valid,
            lambda v, w, name=name: {"own_capital": "100000", "leverage": "2", name: v},
        )
        for name, amount, valid in (
            ("own_capital", money_field(), "100000.00"),
            ("leverage", ratio_field(sign=POSITIVE), "2.5"),
            ("asset_return", ratio_field(), "-0.10"),
            ("fee_rate", ratio_field(), "0.001"),
            ("borrow_rate", ratio_field(), "0.06"),
            ("price_drop", ratio_field(sign=NON_NEGATIVE), "0.2"),
        )
    ],
]


# --- the world the requests meet ---------------------------------------------------------------


@pytest.fixture
def world(funded_account, staff, make_investor, make_eligible):
    """A funded credit account (its investor places orders and withdraws), an eligible investor
    with no credit yet (applies), a submitted application (staff review it) and staff with
    their roles; {"clients": {actor: APIClient}, "ids": {...}}."""
    from lending.credit import services as credit

    account = funded_account()
    applicant = make_eligible(make_investor())
    reviewed = make_eligible(make_investor())
    application = credit.credit_application_submit(
        investor=reviewed,
        requested_limit=Decimal("300000"),
        requested_term_months=6,
        actor=reviewed.user,
    )

    def client(user=None):
        c = APIClient()
        if user is not None:
            c.force_authenticate(user)
        return c

    return {
        "clients": {
            "investor": client(account.investor.user),
            "applicant": client(applicant.user),
            "ops": client(staff["ops"]),
            "risk": client(staff["risk"]),
            "compliance": client(staff["compliance"]),
            "anonymous": client(),
        },
        "ids": {"account": account.pk, "application": application.pk},
        "applicant_id": applicant.pk,
    }


def table_counts() -> tuple[int, ...]:
    """Rows in every table of the project's apps, history tables included (an update of a
    tracked row adds a history row), in one query."""
    tables = sorted(
        model._meta.db_table
        for label in ("accounts", "custody", "compliance", "lending", "reports")
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and not model._meta.proxy
    )
    quote = connection.ops.quote_name  # table names from the app registry, not from input
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


def post(world, target: Target, value, **headers):
    client = world["clients"][target.actor]
    url = target.url.format(**world["ids"])
    headers.setdefault("HTTP_IDEMPOTENCY_KEY", f"hostile-{uuid.uuid4()}")
    return client.post(url, target.build(value, world), format="json", **headers)


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_hostile_amounts_are_refused_naming_the_field_and_nothing_is_written(world, target):
    before = table_counts()
    wrong = []
    for value, rule in hostile_values(target.amount):
        response = post(world, target, value)
        body = response.json()
        if (
            response.status_code != 400
            or body.get("code") != "validation_error"
            or not body.get("message", "").startswith(f"{target.field}:")
            or body.get("extra", {}).get("field") != target.field
            or body["extra"].get("rule") != rule
        ):
            wrong.append(f"{value!r}: expected 400 {rule} on {target.field}, got {body}")
    assert not wrong, "\n".join(wrong)
    assert table_counts() == before, "a refused request changed a table"
    # the same request with a good value goes through the field (a rule may still refuse it)
    good = post(world, target, target.valid)
    assert good.status_code in (200, 201, 422), good.json()
    assert trial_balance_is_zero()


def test_the_rule_is_said_in_words_in_english_and_in_chinese(world):
    target = next(t for t in TARGETS if t.name == "cash withdrawal")
    english = post(world, target, "100.001", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["message"] == "amount: at most 2 decimal places"
    assert english["extra"]["rule"] == "too_precise"
    chinese = post(world, target, "NaN", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert chinese["message"].startswith("amount: ") and "NaN" in chinese["message"]
    assert chinese["message"] != "amount: must be a finite number (NaN and Infinity are refused)"


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-Infinity", "1e999", "-0.5", "abc", True, [0.1]]
)
def test_risk_run_parameters_are_refused_naming_the_parameter(world, staff, value):
    """Risk-run parameters are a free-form object checked by the service (docs/risk.md);
    the same hostile values answer 400 naming the parameter, and no run is recorded."""
    from lending.models import RiskRun

    client = world["clients"]["risk"]
    before = table_counts()
    response = client.post(
        "/api/v1/risk-runs/",
        {"kind": "monte_carlo", "reason": "hostile", "parameters": {"market_vol": value}},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["extra"]["field"] == "market_vol"
    assert response.json()["message"].startswith("market_vol:")
    assert table_counts() == before and not RiskRun.objects.exists()


def test_order_whose_amount_would_not_fit_a_money_column_is_refused(world):
    """Each of quantity and limit price fits its column, but not their product: 400 naming
    the quantity, not a 500 from quantize() or the database."""
    target = next(t for t in TARGETS if t.name == "order limit price")
    before = table_counts()
    body = {"instrument": "SZSE:000001", "purpose": "financed_buy", "quantity": "9" * 16,
            "limit_price": "99999999999999.9999"}  # fmt: skip
    # the message follows the request's language; the code and the field stay English
    for language, words in (("en", "too large"), ("zh-hans", "过大")):
        response = world["clients"]["investor"].post(
            target.url.format(**world["ids"]), body, format="json",
            HTTP_IDEMPOTENCY_KEY="too-large", HTTP_ACCEPT_LANGUAGE=language,
        )  # fmt: skip
        assert response.status_code == 400, response.json()
        assert response.json()["extra"]["field"] == "quantity"
        assert response.json()["message"].startswith("quantity: ")
        assert words in response.json()["message"]
    assert table_counts() == before


# --- the field itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ("1234.5", money_field(), Decimal("1234.50")),
        (" 1234.50 ", money_field(), Decimal("1234.50")),
        ("1234.500", money_field(), Decimal("1234.50")),  # trailing zeros are not precision
        (1234, money_field(), Decimal("1234.00")),  # a JSON integer is exact
        ("0", money_field(sign=NON_NEGATIVE), Decimal("0.00")),
        ("-0", money_field(sign=NON_NEGATIVE), Decimal("0.00")),
        ("-0.25", ratio_field(sign=ANY), Decimal("-0.250000")),
        ("999999999999999999.99", money_field(), Decimal("999999999999999999.99")),
        ("99999999999999.9999", price_field(), Decimal("99999999999999.9999")),
        ("9999999999999999", quantity_field(), Decimal("9999999999999999")),
        ("300.0000", quantity_field(), Decimal("300")),
    ],
)
def test_plain_amounts_are_read_exactly(raw, field, expected):
    value = field.run_validation(raw)
    assert value == expected and str(value) == str(expected)


def test_field_precision_matches_the_database_columns():
    from compliance.models import DailyAssetFigure
    from lending.models import CreditApplication, CreditContract, Financing, PriceTick
    from lending.models import WithdrawalRequest as Withdrawal

    def column(model, name):
        f = model._meta.get_field(name)
        return f.max_digits, f.decimal_places

    money, price, quantity, ratio = money_field(), price_field(), quantity_field(), ratio_field()
    for model, name in (
        (Financing, "amount"),
        (Withdrawal, "amount"),
        (CreditApplication, "requested_limit"),
        (DailyAssetFigure, "total_assets"),
    ):
        assert column(model, name) == (money.max_digits, money.decimal_places), name
    for model, name in ((PriceTick, "price"), (Financing, "price")):
        assert column(model, name) == (price.max_digits, price.decimal_places), name
    digits, places = column(Financing, "quantity")
    assert quantity.whole_digits == digits - places and quantity.decimal_places == 0
    assert column(CreditContract, "warning_line") == (ratio.max_digits, ratio.decimal_places)


MONEY_NAMES = (
    "amount",
    "price",
    "limit_price",
    "quantity",
    "requested_limit",
    "proposed_limit",
    "total_assets",
    "own_capital",
    "leverage",
    "asset_return",
    "fee_rate",
    "borrow_rate",
    "price_drop",
)


def test_every_money_input_of_the_schema_is_an_amount_field(client):
    """A money field added later with a plain CharField or DecimalField fails here."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    found = {}
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue
        for prop, spec in component.get("properties", {}).items():
            if prop in MONEY_NAMES:
                found[f"{name}.{prop}"] = spec
    assert set(found) == {
        "TickRequest.price",
        "OrderInRequest.quantity",
        "OrderInRequest.limit_price",
        "WithdrawalInRequest.amount",
        "WithdrawalInRequest.quantity",
        "CreditApplicationCreateRequest.requested_limit",
        "PrepareRequest.proposed_limit",
        "DailyFigureRequest.total_assets",
        "RepaymentInRequest.amount",
        "BankCreditLineRequest.amount",
        "TransferInRequest.quantity",
        "RightsSubscribeRequest.quantity",
        "LendingLotInRequest.quantity",
        "ShortReturnInRequest.quantity",
        "HouseMoneyInRequest.amount",
        "FacilityAmountInRequest.amount",
        "FacilityInRequest.fee_rate",
        *(f"LeverageInputRequest.{n}" for n in MONEY_NAMES[7:]),
    }
    plain = {k: v for k, v in found.items() if "x-sign" not in v or "pattern" not in v}
    assert not plain, plain
    # accounts.precision.PRICE: 16 whole digits, 4 places
    assert found["OrderInRequest.limit_price"]["pattern"] == (
        r"^(?!0*(?:\.0*)?$)[0-9]{1,16}(?:\.[0-9]{1,4})?$"
    )


# --- regressions: what the schemathesis run and the probes found -------------------------------


def test_malformed_id_in_an_api_url_answers_json_404(world):
    response = world["clients"]["investor"].get("/api/v1/credit-accounts/abc/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
    page = world["clients"]["investor"].get("/portal/no-such-page/")
    assert page.status_code == 404 and "application/json" not in page["Content-Type"]


def test_huge_page_limit_is_cut_not_a_database_error(world):
    response = world["clients"]["risk"].get("/api/v1/lending/contracts/?limit=" + "9" * 25)
    assert response.status_code == 200 and response.json()["count"] == 1


def test_nul_bytes_in_filing_filters_are_refused(world):
    response = world["clients"]["risk"].get("/api/v1/filings/?kind=%00")
    assert response.status_code == 400 and response.json()["extra"]["field"] == "kind"


def test_trial_balance_time_out_of_range_is_refused(world):
    client = world["clients"]["risk"]
    for raw in ("0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00"):
        response = client.get(f"/api/v1/ledger/trial-balance/?as_of={raw}")
        assert response.status_code == 400 and response.json()["extra"]["field"] == "as_of"


def test_nul_in_risk_run_parameters_is_refused(world):
    from lending.models import RiskRun

    response = world["clients"]["risk"].post(
        "/api/v1/risk-runs/",
        {"kind": "stress", "reason": "x", "parameters": {"scenarios": [{"name": "a\x00"}]}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["extra"]["field"] == "parameters"
    assert not RiskRun.objects.exists()


def test_idempotency_key_longer_than_kept_is_refused(world):
    target = next(t for t in TARGETS if t.name == "cash withdrawal")
    response = post(world, target, "100.00", HTTP_IDEMPOTENCY_KEY="k" * 121)
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "Idempotency-Key"
