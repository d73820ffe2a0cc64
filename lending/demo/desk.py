"""Demo desk: for each demo investor an approved application, a signed credit contract and an
open credit account through the real four-eyes path (ops@ prepares, risk@ approves), then
instruments, prices, positions at varied leverage and one valuation of every account, so
warnings and calls are there from the start. Idempotent.

Positions come as trades do: orders placed through lending.orders (with all their checks) and
filled as the exchange would fill them, at the instrument's latest price (the seed runs before
the simulated exchange; `_exchange_fill` stores and applies the execution report the order
gateway would receive). A couple of orders are left working (unfilled) for the orders pages."""

from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import InvestorProfile, User
from lending.credit import services as credit
from lending.credit.models import CreditApplicationStatus
from lending.instruments import services as instruments_services

TERMS = {
    "zhang.wei@demo.margindesk.local": ("B", "high", "1000000.00"),
    "li.na@demo.margindesk.local": ("A", "high", "3000000.00"),
}


def seed(stdout) -> None:
    credit.pricing_grid_seed()
    maker = User.objects.get(email="ops@demo.margindesk.local")
    checker = User.objects.get(email="risk@demo.margindesk.local")
    # The seed stands in for the checker's session verified with an authenticator code: an
    # unsaved device marks this user object verified without enrolling the demo login.
    checker.otp_device = TOTPDevice(user=checker, name="demo seed", confirmed=True)
    for email, (grade, liquidity, limit) in TERMS.items():
        investor = InvestorProfile.objects.filter(user__email=email).first()
        if investor is None or credit.active_contract(investor) is not None:
            continue
        application = investor.credit_applications.filter(
            status__in=[CreditApplicationStatus.SUBMITTED, CreditApplicationStatus.PREPARED]
        ).first() or credit.credit_application_submit(
            investor=investor, requested_limit=limit, requested_term_months=6, actor=investor.user
        )
        if application.status == CreditApplicationStatus.SUBMITTED:
            application = credit.credit_application_prepare(
                application=application,
                actor=maker,
                credit_grade=grade,
                collateral_liquidity=liquidity,
                proposed_limit=limit,
                proposed_term_months=6,
                note="demo: brokerage statements and credit report reviewed",
            )
        credit.credit_application_approve(
            application=application, actor=checker, reason="demo: within credit policy"
        )
    stdout.write("lending: demo credit contracts and accounts ready")
    seed_book(stdout)


# --- the book: instruments, prices, investors with positions ---------------------------------
# SYNTHETIC DEMO DATA: the instruments below are generated deterministically (plausible codes
# and names, not real securities or real prices); the extra investors are fictitious.

BOOK_SEED = 2026


_PREFIXES = [
    "华夏",
    "中信",
    "长江",
    "东方",
    "南方",
    "国泰",
    "招商",
    "海通",
    "光大",
    "民生",
    "华泰",
    "兴业",
    "浦发",
    "万科",
    "金桥",
    "天合",
    "宏达",
    "远航",
    "恒信",
    "瑞丰",
]


_INDUSTRIES = [
    "银行",
    "证券",
    "电力",
    "药业",
    "科技",
    "能源",
    "汽车",
    "食品",
    "地产",
    "化工",
    "电子",
    "机械",
    "航运",
    "建材",
    "传媒",
    "通信",
    "钢铁",
    "农业",
    "环保",
    "软件",
]


# (category, exchange, code start, count, haircut range, price range); the board (and so the
# daily price band) follows the code: SSE 688xxx STAR, SZSE 300xxx ChiNext, else main
_PLAN = [
    ("index_constituent", "SSE", 600000, 50, (50, 70), (5, 180)),
    ("index_constituent", "SSE", 688000, 10, (50, 70), (20, 300)),
    ("index_constituent", "SZSE", 1, 30, (50, 70), (5, 150)),
    ("index_constituent", "SZSE", 300000, 10, (50, 70), (20, 300)),
    ("other_a_share", "SSE", 603000, 70, (30, 65), (3, 80)),
    ("other_a_share", "SZSE", 2000, 60, (30, 65), (3, 80)),
    ("etf", "SSE", 510000, 20, (80, 90), (1, 6)),
    ("etf", "SZSE", 159900, 12, (80, 90), (1, 6)),
    ("money_market_govt", "SSE", 511800, 8, (90, 95), (100, 101)),
    ("money_market_govt", "SSE", 19600, 8, (90, 95), (98, 103)),
    ("other_fund_bond", "SZSE", 160100, 10, (50, 80), (1, 3)),
    ("other_fund_bond", "SSE", 113000, 8, (50, 80), (100, 130)),
]


_SUFFIX = {"etf": "ETF", "money_market_govt": "货币/国债", "other_fund_bond": "基金/债"}


# (email, name, bank account, credit limit, deposit, target ratio after the demo move or None)
BOOK_INVESTORS = [
    ("demo.investor01@demo.margindesk.local", "陈静", "6222000000000000101", 2000000, 800000, None),
    (
        "demo.investor02@demo.margindesk.local",
        "刘洋",
        "6222000000000000102",
        2000000,
        900000,
        "4.0",
    ),
    (
        "demo.investor03@demo.margindesk.local",
        "杨帆",
        "6222000000000000103",
        2000000,
        700000,
        "3.2",
    ),
    (
        "demo.investor04@demo.margindesk.local",
        "赵敏",
        "6222000000000000104",
        3000000,
        1500000,
        "2.5",
    ),
    (
        "demo.investor05@demo.margindesk.local",
        "黄磊",
        "6222000000000000105",
        2000000,
        600000,
        "2.0",
    ),
    (
        "demo.investor06@demo.margindesk.local",
        "周婷",
        "6222000000000000106",
        2000000,
        650000,
        "1.8",
    ),
    (
        "demo.investor07@demo.margindesk.local",
        "吴刚",
        "6222000000000000107",
        2000000,
        500000,
        "1.6",
    ),
    (
        "demo.investor08@demo.margindesk.local",
        "徐丽",
        "6222000000000000108",
        2000000,
        550000,
        "1.45",
    ),
    (
        "demo.investor09@demo.margindesk.local",
        "孙强",
        "6222000000000000109",
        2000000,
        450000,
        "1.38",
    ),
    (
        "demo.investor10@demo.margindesk.local",
        "马超",
        "6222000000000000110",
        2000000,
        400000,
        "1.35",
    ),
    (
        "demo.investor11@demo.margindesk.local",
        "朱琳",
        "6222000000000000111",
        2000000,
        500000,
        "1.27",
    ),
    (
        "demo.investor12@demo.margindesk.local",
        "胡军",
        "6222000000000000112",
        2000000,
        350000,
        "1.22",
    ),
]


EXISTING_BOOK = {
    "zhang.wei@demo.margindesk.local": ("6222020200112233445", 600000, "1.36"),
    "li.na@demo.margindesk.local": ("6225880166778899", 1500000, "2.2"),
}


def _instruments_seed():
    import random
    from decimal import Decimal

    from lending.instruments.models import Instrument

    rng = random.Random(BOOK_SEED)  # noqa: S311 (synthetic demo data)
    existing = set(Instrument.objects.values_list("exchange", "code"))
    made = 0
    n = 0
    for category, exchange, start, count, (h_lo, h_hi), (_p_lo, _p_hi) in _PLAN:
        for i in range(count):
            n += 1
            code = f"{start + i * (3 if category == 'other_a_share' else 1):06d}"
            name = _PREFIXES[n % 20] + _INDUSTRIES[(n * 7) % 20] + _SUFFIX.get(category, "")
            haircut = Decimal(rng.randrange(h_lo, h_hi + 1, 5 if h_hi - h_lo >= 5 else 1)) / 100
            is_st = category == "other_a_share" and i % 15 == 7
            suspended = category == "other_a_share" and i % 23 == 11
            float_ = rng.randrange(200, 20000) * 1_000_000
            if (exchange, code) in existing:
                continue
            instruments_services.instrument_create(
                code=code,
                exchange=exchange,
                name=name,
                category=category,
                tradable_float=float_,
                is_st=is_st,
                suspended=suspended,
                collateral_eligible=True,
                haircut=haircut,
                financing_eligible=category in ("index_constituent", "etf", "other_a_share")
                and not (is_st or suspended),
                actor=None,
                reason="demo seed (synthetic instrument)",
            )
            made += 1
    # a first price for every instrument that has none (synthetic, deterministic)
    from django.utils import timezone

    # earlier today (never yesterday, even just after midnight): these first prices are no
    # previous close, so today's demo moves (seed_book) are not held to a band around them
    now = timezone.now().replace(microsecond=0)
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0)
    at = max(now - timezone.timedelta(hours=1), midnight)
    ticks = []
    for inst in Instrument.objects.filter(latest_price__isnull=True).order_by("pk"):
        lo, hi = next((p for c, e, s, k, h, p in _PLAN if c == inst.category), (1, 10))
        r = random.Random(f"{BOOK_SEED}:{inst.exchange}:{inst.code}")  # noqa: S311
        places = 3 if inst.category == "etf" else 2
        ticks.append(
            {
                "instrument": inst.ledger_unit,
                "price": str(round(Decimal(str(r.uniform(lo, hi))), places)),
                "at": at,
            }
        )
    if ticks:
        instruments_services.prices_ingest(ticks, source="demo", actor=None)
    return made


#: Synthetic codes on the demo exchange lists that the desk does not carry (reported as
#: unknown on the import page).
_UNKNOWN_LISTED = {"SSE": "600998", "SZSE": "002998"}


def _exchange_lists_seed(stdout) -> None:
    """Today's eligible-collateral and financing target lists of each exchange (synthetic,
    deterministic), imported like the daily drop, so the instrument pages show a list in
    force. The exchange's rate is the category's cap, but lower (0.50) for every fifth other
    A-share; every seventh other A-share is off both lists (off the collateral list: haircut
    0; off the target list: no new financing). Index constituents (the demo's financed
    positions) stay on both at the cap. Idempotent (the same file for the same day)."""
    from decimal import Decimal

    from django.utils import timezone

    from lending.instruments import exchange_lists
    from lending.instruments import selectors as instruments_selectors
    from lending.instruments.models import Instrument

    today = timezone.localdate()
    caps = instruments_selectors.band_parameters(today)
    for exchange in ("SSE", "SZSE"):
        collateral = ["code,conversion_rate"]
        targets = ["code"]
        others = 0
        for inst in Instrument.objects.filter(exchange=exchange).order_by("code"):
            rate = caps.haircut_cap(inst.category)
            if inst.category == "other_a_share":
                others += 1
                if others % 7 == 0:
                    continue
                if others % 5 == 0:
                    rate = min(rate, Decimal("0.50"))
            collateral.append(f"{inst.code},{rate.normalize()}")
            if inst.financing_eligible:
                targets.append(inst.code)
        collateral.append(f"{_UNKNOWN_LISTED[exchange]},0.50")
        targets.append(_UNKNOWN_LISTED[exchange])
        for kind, lines in (("eligible_collateral", collateral), ("financing_target", targets)):
            list_import, created = exchange_lists.exchange_list_import(
                exchange=exchange,
                kind=kind,
                effective_on=today,
                file_name=f"{exchange.lower()}-{kind}-{today:%Y%m%d}.csv",
                content="\n".join(lines) + "\n",
                actor=None,
                reason="demo seed (synthetic exchange list)",
            )
            if created:
                stdout.write(
                    f"lending: {exchange} {kind} list imported ({list_import.row_count} rows)"
                )


def _eligible_investor(email, name, bank_account, n):
    from datetime import timedelta
    from decimal import Decimal

    from accounts import services as accounts_services
    from accounts.roles import Role
    from compliance import calendar, selectors
    from compliance import services as compliance_services
    from compliance.demo import _answers
    from compliance.models import Questionnaire

    user = User.objects.filter(email=email).first()
    if user is None:
        from accounts.demo import DEMO_PASSWORD

        user = accounts_services.user_create(
            email=email,
            password=DEMO_PASSWORD,
            role=Role.INVESTOR,
            full_name=name,
            actor=None,
            reason="demo seed",
        )
    investor = InvestorProfile.objects.filter(user=user).first()
    if investor is None:
        investor = accounts_services.investor_profile_create(
            user=user,
            actor=None,
            reason="demo seed",
            real_name=name,
            id_type="resident_id",
            id_number=f"4403011988{n:02d}01{n:04d}"[:18],
            bank_name="中国建设银行",
            bank_account=bank_account,
        )
    today = selectors.today()
    if selectors.valid_assessment(investor) is None:
        compliance_services.assessment_submit(
            investor=investor,
            answers=_answers(Questionnaire.objects.get(version=1), [3, 3, 2, 2, 1]),
            actor=user,
        )
    if selectors.restricted_declaration_blockers(investor):
        compliance_services.restricted_declaration_record(
            investor=investor, holds_none=True, actor=user, user_agent="demo seed"
        )
    if selectors.disclosure_blockers(investor):
        compliance_services.disclosure_acknowledge(
            investor=investor,
            document=selectors.current_disclosure(),
            ip_address="127.0.0.1",
            user_agent="demo seed",
            actor=user,
        )
    if selectors.eligibility_blockers(investor):
        compliance_services.eligibility_facts_set(
            investor=investor,
            first_trade_date=today - timedelta(days=3 * 365),
            has_serious_default=False,
            is_related_party=False,
            firm_shareholding_pct=Decimal(0),
            evidence="demo: brokerage account file",
            actor=None,
            reason="demo seed",
        )
        days = calendar.last_n_trading_days(calendar.previous_trading_day(today), 20)
        compliance_services.daily_assets_import(
            investor=investor,
            rows=[(d, Decimal("900000.00")) for d in days],
            source="demo",
            actor=None,
        )
    return investor


def _contract(investor, limit, maker, checker):
    if credit.active_contract(investor) is not None:
        return credit.active_contract(investor)
    application = investor.credit_applications.filter(
        status__in=[CreditApplicationStatus.SUBMITTED, CreditApplicationStatus.PREPARED]
    ).first() or credit.credit_application_submit(
        investor=investor, requested_limit=limit, requested_term_months=6, actor=investor.user
    )
    if application.status == CreditApplicationStatus.SUBMITTED:
        application = credit.credit_application_prepare(
            application=application,
            actor=maker,
            credit_grade="B",
            collateral_liquidity="high",
            proposed_limit=limit,
            proposed_term_months=6,
            note="demo: statements reviewed",
        )
    return credit.credit_application_approve(
        application=application, actor=checker, reason="demo: within credit policy"
    )


def _exchange_fill(order, tag: str, n: int):
    """Fill all of `order` at its instrument's latest price as the exchange would: the
    execution report stored as the order gateway stores it and applied as its task applies it
    (fees and all). Exec id demo-{tag}-{n}; a report stored before is not applied again."""

    from django.utils import timezone

    from lending.orders import reports as fix
    from lending.orders import services as orders_services

    order.refresh_from_db()
    price = order.instrument.latest_price.price
    left = order.quantity - order.filled_quantity
    report = fix.report_for(
        order,
        exec_id=f"demo-{tag}-{n}",
        exec_type=fix.EXEC_TRADE,
        ord_status=fix.STATUS_FILLED,
        order_id=f"DEMO{order.pk}",
        last_qty=left,
        last_px=price,
        text="demo fill",
        at=timezone.now(),
    )
    record = orders_services.execution_report_record(report)
    if record is not None and record.order_id is not None:
        orders_services.execution_reports_apply(order_id=record.order_id)
    order.refresh_from_db()
    return order


def _order(account, instrument, purpose, quantity, limit_price, key):
    from lending.orders import services as orders_services

    return orders_services.order_place(
        credit_account=account,
        instrument=instrument,
        purpose=purpose,
        quantity=quantity,
        limit_price=limit_price,
        actor=None,
        idempotency_key=key,
        reason="demo",
    )


def _positions(account, bank_account, deposit, target, pair, n, working=None):
    """Deposit D, buy Y with own cash (90% of D), buy X on margin (50% of D), both filled at
    the latest price (with fees), then move both prices by one factor k so the ratio lands on
    `target`: target = (cash + MV·k) / debt, so k = (target·debt - cash) / MV. `working`, an
    instrument, gets one own-cash buy of a lot a little under its price, left unfilled."""
    from decimal import ROUND_DOWN, Decimal

    from custody import services as custody
    from custody.models import JournalEntry
    from lending.financing.valuation import account_view

    tag = f"demo-book-{account.investor_id}"
    if JournalEntry.objects.filter(idempotency_key=f"{tag}-deposit").exists():
        return False
    deposit = Decimal(deposit)
    cash_before = account_view(account).cash  # cash of other demo seeds: not counted below
    custody.client_deposit_post(
        investor=account.investor,
        amount=deposit,
        currency="CNY",
        bank_account=bank_account,
        reference="demo deposit",
        actor=None,
        idempotency_key=f"{tag}-deposit",
    )
    x, y = pair
    px, py = x.latest_price.price, y.latest_price.price
    qy = int(deposit * Decimal("0.9") / py / y.lot_size) * y.lot_size
    qx = int(deposit * Decimal("0.5") / px / x.lot_size) * x.lot_size
    _exchange_fill(_order(account, y, "cash_buy", qy, py, f"{tag}-buy"), tag, 1)
    if working is not None:
        limit = (working.latest_price.price * Decimal("0.98")).quantize(Decimal("0.01"), ROUND_DOWN)
        _order(account, working, "cash_buy", working.lot_size, limit, f"{tag}-working")
    if target is None:
        return True
    _exchange_fill(_order(account, x, "financed_buy", qx, px, f"{tag}-financed"), tag, 2)
    view = account_view(account)  # what the fills left, fees included
    cash, debt = view.cash - cash_before, view.financing_debt
    mv = qy * py + qx * px
    k = (Decimal(target) * debt - cash) / mv
    from django.utils import timezone

    at = timezone.now().replace(microsecond=0)
    instruments_services.prices_ingest(
        [
            {
                "instrument": i.ledger_unit,
                "price": str((p * k).quantize(Decimal("0.01"), ROUND_DOWN)),
                "at": at,
            }
            for i, p in ((x, px), (y, py))
        ],
        source="demo",
        actor=None,
    )
    return True


def seed_book(stdout) -> None:
    from lending.instruments.models import Instrument

    made = _instruments_seed()
    _exchange_lists_seed(stdout)
    maker = User.objects.get(email="ops@demo.margindesk.local")
    checker = User.objects.get(email="risk@demo.margindesk.local")
    checker.otp_device = TOTPDevice(user=checker, name="demo seed", confirmed=True)
    pool = list(
        Instrument.objects.filter(
            category="index_constituent", financing_eligible=True, is_st=False, suspended=False
        )
        .select_related("latest_price")
        .order_by("exchange", "code")
    )
    plans = []
    for email, (bank, deposit, target) in EXISTING_BOOK.items():
        investor = InvestorProfile.objects.filter(user__email=email).first()
        if investor is not None and credit.active_contract(investor) is not None:
            plans.append((investor, bank, deposit, target))
    for n, (email, name, bank, limit, deposit, target) in enumerate(BOOK_INVESTORS, start=1):
        investor = _eligible_investor(email, name, bank, n)
        _contract(investor, limit, maker, checker)
        plans.append((investor, bank, deposit, target))
    built = 0
    for i, (investor, bank, deposit, target) in enumerate(plans):
        contract = credit.active_contract(investor)
        pair = (pool[(2 * i) % len(pool)], pool[(2 * i + 1) % len(pool)])
        # the first two accounts (the demo logins) keep one working order each
        working = pool[(2 * i + 2) % len(pool)] if i < 2 else None
        built += _positions(contract.credit_account, bank, deposit, target, pair, i, working)
    stdout.write(
        f"lending: {Instrument.objects.count()} instruments ({made} new, synthetic), "
        f"{built} demo accounts funded with positions"
    )
    if plans:
        # the short seller: the first demo account without financing (its margin is free)
        seller = next((p[0] for p in plans if p[3] is None), plans[0][0])
        _shorts_seed(stdout, pool, credit.active_contract(seller).credit_account)
    seed_margin_states(stdout)


def _shorts_seed(stdout, pool, account) -> None:
    """Securities lending (融券): each exchange's short-sale target list (the index
    constituents), 20,000 house shares of the first four of them in the lending inventory from
    a (synthetic) custodian confirmation, and `account`'s short sale of two lots of the fourth at
    its latest price, filled. Idempotent (the confirmations and the order's
    key are booked once)."""
    from django.utils import timezone

    from lending.instruments import exchange_lists
    from lending.orders.models import Order
    from lending.shorts import services as inventory
    from lending.shorts.models import LendingLot

    today = timezone.localdate()
    for exchange in ("SSE", "SZSE"):
        codes = [i.code for i in pool if i.exchange == exchange]
        exchange_lists.exchange_list_import(
            exchange=exchange,
            kind="short_target",
            effective_on=today,
            file_name=f"{exchange.lower()}-short_target-{today:%Y%m%d}.csv",
            content="code\n" + "".join(f"{code}\n" for code in codes),
            actor=None,
            reason="demo seed (synthetic exchange list)",
        )
    ops = User.objects.get(email="ops@demo.margindesk.local")
    for inst in pool[:4]:
        reference = f"DEMO-CSDC-{inst.exchange}-{inst.code}"
        if not LendingLot.objects.filter(confirmation_reference=reference).exists():
            inventory.inventory_house_add(
                instrument=inst,
                quantity=20 * inst.lot_size * 10,
                confirmation_reference=reference,
                actor=ops,
                reason="demo: house shares confirmed by the custodian",
            )
    key = f"demo-short-{account.pk}"
    if not Order.objects.filter(idempotency_key=key).exists():
        inst = pool[3]
        inst.refresh_from_db()
        order = _order(account, inst, "short_sale", 2 * inst.lot_size, inst.latest_price.price, key)
        _exchange_fill(order, "short", account.pk)
    stdout.write("lending: short-sale target lists, lending inventory and a demo short sale")


def seed_margin_states(stdout) -> None:
    """Value every demo account once, so accounts seeded under the lines show their
    warnings and calls (with notices) from the start. Idempotent like the lifecycle."""
    from lending.credit.models import CreditAccount, CreditAccountStatus
    from lending.margin_calls import services as calls

    states: dict[str, int] = {}
    for account in CreditAccount.objects.filter(status=CreditAccountStatus.OPEN).order_by("pk"):
        transition = calls.account_revalue(credit_account=account, source="demo seed")
        states[transition.to_state] = states.get(transition.to_state, 0) + 1
    summary = ", ".join(f"{state} {count}" for state, count in sorted(states.items()))
    stdout.write(f"lending: demo accounts valued ({summary})")
