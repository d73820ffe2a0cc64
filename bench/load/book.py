"""The data the load benchmark needs, in its own database (Django set up by run.py).

* the synthetic book of bench/mtm (`generate_and_load`, loaded by COPY), built once and reused
  while its parameters (accounts, instruments, the generator's source) are unchanged: they are
  kept as the database's COMMENT;
* investors for a fixed random sample of the book's accounts: the generator already made a user
  and an investor profile per account; the sample gets the investor role
  (accounts.services.user_set_role); each run issues them new API tokens (what
  POST /api/v1/auth/tokens/ hands out: only a digest is stored, so a token cannot be read back)
  and revokes the last run's, and gives them fresh sessions, since a session is bound to the
  secret key;
* a price-feed user with the market-data feed role (Role.PRICE_FEED: lending.add_pricetick
  only, not staff, so no second factor), made by accounts.services.user_create, with its token.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time

import numpy as np

#: The seed of bench/mtm's generator (its default); part of the reuse key.
SEED = 20260929
PRICE_FEED_EMAIL = "bench-load-prices@example.invalid"
SAMPLE_SEED = 10


def _generator():
    from bench.mtm import run as mtm_run

    return mtm_run


def book_parameters(accounts: int, instruments: int) -> dict:
    source = inspect.getsource(_generator().generate_and_load)
    return {
        "accounts": accounts,
        "instruments": instruments,
        "seed": SEED,
        "generator_sha256": hashlib.sha256(source.encode()).hexdigest()[:16],
    }


def _stored_parameters() -> dict | None:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
        (comment,) = c.fetchone()
    try:
        return json.loads(comment) if comment else None
    except ValueError:
        return None


def _store_parameters(params: dict) -> None:
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection.cursor() as c:
        # COMMENT takes no bind parameters; the JSON is ours (digits, hex and fixed keys)
        text = json.dumps(params, sort_keys=True).replace("'", "''")
        c.execute(f"COMMENT ON DATABASE \"{name}\" IS '{text}'")


def ensure_book(accounts: int, instruments: int, *, rebuild: bool) -> dict:
    """Build the book unless one with the same parameters is there; returns facts about it."""
    from django.db import connection

    from lending.models import CreditAccount

    params = book_parameters(accounts, instruments)
    stored = _stored_parameters()
    if (
        not rebuild
        and stored == params
        and CreditAccount.objects.filter(status="open").count() == accounts
    ):
        return {"reused": True, "seconds": 0.0, **params}
    mtm_run = _generator()
    # bench/mtm's loader refuses any database but the one it names; it is handed ours
    mtm_run.BENCH_DB = connection.settings_dict["NAME"]
    print(f"building the synthetic book: {accounts:,} accounts, {instruments:,} instruments ...")
    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute("TRUNCATE django_session")
    loaded = mtm_run.generate_and_load(accounts, instruments, seed=SEED)
    _store_parameters(params)
    seconds = time.perf_counter() - t0
    print(
        f"built in {seconds:.1f} s: {loaded['positions']:,} positions, "
        f"{loaded['ledger_accounts']:,} ledger accounts"
    )
    return {"reused": False, "seconds": seconds, **params}


def sample_account_ids(accounts: int, investors: int) -> list[int]:
    """A fixed random sample: the first `investors` of a seeded permutation (so a larger sample
    extends a smaller one)."""
    order = np.random.default_rng(SAMPLE_SEED).permutation(np.arange(1, accounts + 1))
    return [int(i) for i in order[: min(investors, accounts)]]


def ensure_investors(account_ids: list[int]) -> list[dict]:
    """Investor role and API token for the owners of `account_ids`; [{account, token, user}]."""
    from django.contrib.auth.models import Group

    from accounts import services as account_services
    from accounts.roles import Role
    from lending.models import CreditAccount

    owners = dict(
        CreditAccount.objects.filter(pk__in=account_ids).values_list("pk", "investor__user_id")
    )
    investor_group = Group.objects.get(name=Role.INVESTOR)
    have_role = set(
        investor_group.user_set.filter(pk__in=owners.values()).values_list("pk", flat=True)
    )
    from accounts.models import User

    _revoke_bench_tokens(list(owners.values()))
    tokens: dict[int, str] = {}

    users = User.objects.in_bulk(list(owners.values()))
    made = 0
    for user_id in owners.values():
        user = users[user_id]
        if user_id not in have_role:
            account_services.user_set_role(
                user=user, role=Role.INVESTOR, actor=None, reason="bench/load: load-test investor"
            )
            made += 1
        tokens[user_id] = _bench_token(user)
    if made:
        print(f"gave {made:,} sampled investors the investor role")
    return [
        {"account": pk, "user": owners[pk], "token": tokens[owners[pk]]}
        for pk in account_ids
        if pk in owners
    ]


def fresh_sessions(investors: list[dict]) -> None:
    """A signed-in session per investor, as django.contrib.auth.login stores it (bound to this
    run's SECRET_KEY through the session auth hash); older sessions are dropped."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    from accounts.models import User

    with connection.cursor() as c:
        c.execute("TRUNCATE django_session")
    users = User.objects.in_bulk([i["user"] for i in investors])
    for investor in investors:
        user = users[investor["user"]]
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        investor["session"] = session.session_key


def ensure_price_feed_user() -> str:
    """The machine user posting prices (market-data feed role: lending.add_pricetick, not
    staff); returns its token. A feed user made by an older run with the risk role is moved to
    the feed role: a staff token cannot write without a second factor."""
    from accounts import services as account_services
    from accounts.models import User
    from accounts.roles import Role

    user = User.objects.filter(email=PRICE_FEED_EMAIL).first()
    if user is None:
        user = account_services.user_create(
            email=PRICE_FEED_EMAIL,
            password=None,
            role=Role.PRICE_FEED,
            full_name="bench/load price feed",
            actor=None,
            reason="bench/load: price feed",
        )
    elif user.role_names != [Role.PRICE_FEED.value]:
        account_services.user_set_role(
            user=user, role=Role.PRICE_FEED, actor=None, reason="bench/load: price feed role"
        )
    _revoke_bench_tokens([user.pk])
    return _bench_token(user)


BENCH_TOKEN_NAME = "bench/load"  # noqa: S105  (the device name, not a secret)


def _revoke_bench_tokens(user_ids: list[int]) -> None:
    """Only a token's digest is stored, so each run issues new tokens and revokes the last
    run's (a user holds at most API_TOKENS_PER_USER active tokens)."""
    from accounts import services as account_services
    from accounts.models import ApiToken

    for token in ApiToken.objects.filter(
        user_id__in=user_ids, name=BENCH_TOKEN_NAME, revoked_at=None
    ):
        account_services.api_token_revoke(token=token, actor=None, reason="bench/load: new run")


def _bench_token(user) -> str:
    from accounts import services as account_services

    return account_services.api_token_issue(user=user, name=BENCH_TOKEN_NAME, actor=None)[1]


def instrument_prices() -> list[list]:
    """[["SSE:B000001", "12.34"], ...] from the latest prices: the base of the posted ticks."""
    from lending.models import LatestPrice

    rows = LatestPrice.objects.select_related("instrument").order_by("instrument_id")
    return [[r.instrument.ledger_unit, str(r.price)] for r in rows]
