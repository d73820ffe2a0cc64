"""Keys of the dated parameter table, and the history seeded into it.

Code asks `compliance.selectors.parameter(KEY, on=day)`; the numbers live in the table
(`RegulatoryParameter`), where staff add a new dated row when a rule changes. SEED is the
initial history loaded by migration and by the demo, not a fallback.
"""

from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_noop

FINANCING_MARGIN_RATIO = "financing_margin_ratio"
PRODUCT_RISK_LEVEL_PREFIX = "product_risk_level."
MARGIN_PRODUCT_CODE = "margin_financing"
#: the seeded product's name (compliance migration 0002), translated where it is shown
MARGIN_PRODUCT_NAME = gettext_noop("Margin financing")
MARGIN_PRODUCT_RISK_LEVEL = PRODUCT_RISK_LEVEL_PREFIX + MARGIN_PRODUCT_CODE
ASSESSMENT_VALIDITY_MONTHS = "suitability.assessment_validity_months"
MIN_TRADING_MONTHS = "eligibility.min_trading_months"
MIN_AVERAGE_DAILY_ASSETS = "eligibility.min_average_daily_assets"
AVERAGE_ASSETS_WINDOW = "eligibility.average_assets_trading_days"
MIN_RISK_CLASS = "eligibility.min_risk_class"
RELATED_PARTY_THRESHOLD_PCT = "eligibility.related_party_threshold_pct"
ELIGIBILITY_CHECK_VALIDITY_DAYS = "eligibility.check_validity_days"
MAX_TERM_MONTHS = "credit.max_term_months"
WARNING_LINE = "credit.warning_line"
CALL_LINE = "credit.call_line"
TARGET_LINE = "credit.target_line"
WITHDRAWAL_LINE = "credit.withdrawal_line"
PRO_INDIVIDUAL_FINANCIAL_ASSETS = "classification.professional_individual_financial_assets"
PRO_INDIVIDUAL_INCOME = "classification.professional_individual_average_income"
PRO_INDIVIDUAL_EXPERIENCE_YEARS = "classification.professional_experience_years"
PRO_INSTITUTION_NET_ASSETS = "classification.professional_institution_net_assets"
PRO_INSTITUTION_FINANCIAL_ASSETS = "classification.professional_institution_financial_assets"
UPGRADE_FINANCIAL_ASSETS = "classification.upgrade_financial_assets"
UPGRADE_INCOME = "classification.upgrade_average_income"
UPGRADE_EXPERIENCE_YEARS = "classification.upgrade_experience_years"
# Collateral and book limits (read by lending's book)
HAIRCUT_CAP_PREFIX = "collateral.haircut_cap."  # + instrument category
HAIRCUT_CAP_INDEX_CONSTITUENT = HAIRCUT_CAP_PREFIX + "index_constituent"
HAIRCUT_CAP_OTHER_A_SHARE = HAIRCUT_CAP_PREFIX + "other_a_share"
HAIRCUT_CAP_ETF = HAIRCUT_CAP_PREFIX + "etf"
HAIRCUT_CAP_MONEY_MARKET_GOVT = HAIRCUT_CAP_PREFIX + "money_market_govt"
HAIRCUT_CAP_OTHER_FUND_BOND = HAIRCUT_CAP_PREFIX + "other_fund_bond"
CONCENTRATION_CAP = "book.account_concentration_cap"
FLOAT_STOP_FRACTION = "book.float_financing_stop"
FLOAT_RESUME_FRACTION = "book.float_financing_resume"
NET_CAPITAL = "book.net_capital"
CLIENT_NET_CAPITAL_FRACTION = "book.client_financing_net_capital_fraction"
TOTAL_NET_CAPITAL_MULTIPLE = "book.total_lending_net_capital_multiple"
STALE_PRICE_MINUTES = "book.stale_price_minutes"
# The trading calendar: staff are warned this many calendar days before its last known session
CALENDAR_WARNING_DAYS = "calendar.warning_days"

# Liquidation: a plan is sized at the latest price less this fraction (the price it expects)
LIQUIDATION_SLIPPAGE = "liquidation.slippage"

# Valuation of suspended securities (read with the band parameters by lending.instruments): a
# suspended security is valued at its last price x (1 - this discount)
VALUATION_PREFIX = "valuation."
SUSPENDED_VALUATION_DISCOUNT = VALUATION_PREFIX + "suspended_discount"

# Maturity of financings (DOMAIN.md "Maturity and extension"), read by lending.financing.maturity
FINANCING_MAX_TERM_MONTHS = "financing.max_term_months"  # a financing is due at most this late
EXTENSION_MAX_MONTHS = "financing.extension_max_months"  # one extension runs at most this long
MATURITY_REMINDER_FIRST_DAYS = "financing.reminder_first_trading_days"  # before the due date
MATURITY_REMINDER_SECOND_DAYS = "financing.reminder_second_trading_days"  # before the due date
PENALTY_RATE_STANDARD = "financing.penalty_rate_standard"  # a new contract's annual penalty rate

# Trading fees (read by lending.orders when a fill is booked)
STAMP_DUTY_SALE = "fees.stamp_duty_sale"  # fraction of a sale's turnover, sales only
TRANSFER_FEE = "fees.transfer_fee"  # fraction of turnover, both sides
COMMISSION_STANDARD_RATE = "fees.commission_standard_rate"  # a new contract's rate
COMMISSION_MINIMUM = "fees.commission_minimum"  # CNY per order

# Daily price band (read by lending.instruments): + board ("main", "star", "chinext")
PRICE_BAND_PREFIX = "prices.band."  # fraction around the previous close
PRICE_BAND_ST_PREFIX = "prices.band_st."  # the same for ST / *ST securities of the board
NO_BAND_DAYS_PREFIX = "prices.no_band_trading_days."  # a new listing's first days, no band
PRICE_TICK_PREFIX = "prices.tick_size."  # + instrument category: the price's minimum step

# Securities lending (融券), DOMAIN.md "Securities lending" and "Maturity and extension". The
# short margin ratio of private securities investment funds is its own key (the table has no
# investor-type column): the same dated history as the general one until 2023-10-15.
SHORT_MARGIN_RATIO = "shorts.margin_ratio"  # a short sale of A needs A x this available margin
SHORT_MARGIN_RATIO_PRIVATE_FUND = "shorts.margin_ratio_private_fund"
SHORT_FLOAT_STOP = "shorts.float_stop"  # short balance / tradable shares: new shorts stop
SHORT_FLOAT_RESUME = "shorts.float_resume"  # ... and resume below this
REFINANCING_ENABLED = "shorts.refinancing_enabled"  # 1: refinancing (转融券) open, 0: suspended
SHORT_FEE_RATE_STANDARD = "shorts.fee_rate_standard"  # annual lending fee rate, ACT/360
SHORT_MAX_TERM_MONTHS = "shorts.max_term_months"  # a short position is due at most this late


def short_margin_ratio_key(*, private_fund: bool = False) -> str:
    """The parameter key of the short margin ratio for an investor (private securities
    investment funds have their own, higher ratio since 2023-10-16)."""
    return SHORT_MARGIN_RATIO_PRIVATE_FUND if private_fund else SHORT_MARGIN_RATIO


_SUITABILITY = "CSRC Measures for Investor Suitability Management (2017-07-01)"
_MARGIN_RULES = "SSE/SZSE margin trading implementation rules"
_DESK = "desk credit policy"
_TRADING = "SSE/SZSE trading rules"
_PRICE_LIMITS_1996 = "SSE/SZSE notice on daily price limits (from 1996-12-16)"
_ST_1998 = "SSE/SZSE special treatment (ST) of listed companies (from 1998-04-22)"
_CHINEXT_2009 = "SZSE ChiNext trading rules (market opened 2009-10-30)"
_CHINEXT_2020 = "SZSE ChiNext special trading provisions, registration reform (2020-08-24)"
_STAR_2019 = "SSE STAR Market special trading provisions (2019-07-22)"
_MAIN_2023 = "SSE/SZSE trading rules, full registration reform of the main boards (2023-04-10)"
_DESK_RISK = "desk risk policy"
_TERM_RULES = "SSE/SZSE margin trading implementation rules: a financing's term is ≤ 6 months"
_EXTENSION_2019 = (
    "SSE/SZSE margin trading implementation rules, 2019 revision (2019-08-09): an extension "
    "of at most 6 months, no limit on the number of extensions"
)
_PENALTY_TARIFF = (
    "desk tariff for new contracts: penalty interest of 0.05% a day (万分之五) on overdue "
    "debt, the figure common in brokers' margin-financing contracts; 0.0005 x 360 = 0.18 a "
    "year, ACT/360 like interest, charged on top of the contract rate"
)
_STAMP_2008 = "MOF/SAT: stamp duty on share transfers, seller only, 0.1% (from 2008-09-19)"
_STAMP_2023 = "MOF/SAT announcement 2023 No. 39: stamp duty on share sales halved (2023-08-28)"
_TRANSFER_2015 = "CSDC transfer fee 0.002% of turnover, SSE and SZSE alike (from 2015-08-01)"
_TRANSFER_2022 = "CSDC: A-share transfer fee cut to 0.001% of turnover (from 2022-04-29)"
_TARIFF = "desk brokerage tariff (commission per contract; minimum per order)"

_SHORT_MARGIN_2010 = "SSE/SZSE margin trading implementing rules: short margin ratio ≥ 50%"
_SHORT_MARGIN_2023 = (
    "SSE/SZSE notices on the short margin ratio (CSRC, 2023-10-14): ≥ 80% from 2023-10-16, "
    "private securities investment funds ≥ 100%"
)
_SHORT_MARGIN_2024 = (
    "CSRC release of 2024-07-10 and the SSE/SZSE/BSE notices: short margin ratio ≥ 100% from "
    "2024-07-22, private securities investment funds ≥ 120%"
)
_SHORT_FLOAT = (
    "SSE/SZSE margin trading implementing rules: short sales of a security stop when its short "
    "balance reaches 25% of its tradable shares, resume below 20%"
)
_REFINANCING_ON = "CSRC/CSF securities refinancing (转融通) rules: refinancing of securities open"
_REFINANCING_OFF = (
    "CSRC release of 2024-07-10: securities refinancing (转融券) suspended from 2024-07-11, "
    "existing contracts settled by 2024-09-30"
)
_SHORT_FEE = "desk rate card: securities lending fee, annual rate, ACT/360 like interest"
_SHORT_TERM = "SSE/SZSE margin trading implementation rules: a short position's term is ≤ 6 months"

# (key, effective_from, value, source)
SEED: list[tuple[str, date, Decimal, str]] = [
    (FINANCING_MARGIN_RATIO, date(2010, 3, 31), Decimal("0.50"), _MARGIN_RULES + " (2010)"),
    (FINANCING_MARGIN_RATIO, date(2015, 11, 23), Decimal("1.00"), _MARGIN_RULES + " (2015)"),
    (FINANCING_MARGIN_RATIO, date(2023, 9, 8), Decimal("0.80"), _MARGIN_RULES + " (2023)"),
    (FINANCING_MARGIN_RATIO, date(2026, 1, 19), Decimal("1.00"), _MARGIN_RULES + " (2026)"),
    (MARGIN_PRODUCT_RISK_LEVEL, date(2017, 7, 1), Decimal(4), _SUITABILITY),
    (ASSESSMENT_VALIDITY_MONTHS, date(2017, 7, 1), Decimal(24), _SUITABILITY),
    (MIN_TRADING_MONTHS, date(2010, 3, 31), Decimal(6), _MARGIN_RULES),
    (MIN_AVERAGE_DAILY_ASSETS, date(2019, 8, 9), Decimal(500000), _MARGIN_RULES + " (2019)"),
    (AVERAGE_ASSETS_WINDOW, date(2019, 8, 9), Decimal(20), _MARGIN_RULES + " (2019)"),
    (MIN_RISK_CLASS, date(2017, 7, 1), Decimal(4), _SUITABILITY),
    (RELATED_PARTY_THRESHOLD_PCT, date(2010, 3, 31), Decimal(5), _MARGIN_RULES),
    (ELIGIBILITY_CHECK_VALIDITY_DAYS, date(2010, 3, 31), Decimal(30), _DESK),
    (MAX_TERM_MONTHS, date(2010, 3, 31), Decimal(6), _MARGIN_RULES),
    (WARNING_LINE, date(2010, 3, 31), Decimal("1.40"), _DESK),
    (CALL_LINE, date(2010, 3, 31), Decimal("1.30"), _DESK),
    (TARGET_LINE, date(2010, 3, 31), Decimal("1.50"), _DESK),
    (WITHDRAWAL_LINE, date(2010, 3, 31), Decimal("3.00"), _DESK),
    (PRO_INDIVIDUAL_FINANCIAL_ASSETS, date(2017, 7, 1), Decimal(5000000), _SUITABILITY),
    (PRO_INDIVIDUAL_INCOME, date(2017, 7, 1), Decimal(500000), _SUITABILITY),
    (PRO_INDIVIDUAL_EXPERIENCE_YEARS, date(2017, 7, 1), Decimal(2), _SUITABILITY),
    (PRO_INSTITUTION_NET_ASSETS, date(2017, 7, 1), Decimal(20000000), _SUITABILITY),
    (PRO_INSTITUTION_FINANCIAL_ASSETS, date(2017, 7, 1), Decimal(10000000), _SUITABILITY),
    (UPGRADE_FINANCIAL_ASSETS, date(2017, 7, 1), Decimal(3000000), _SUITABILITY),
    (UPGRADE_INCOME, date(2017, 7, 1), Decimal(300000), _SUITABILITY),
    (UPGRADE_EXPERIENCE_YEARS, date(2017, 7, 1), Decimal(1), _SUITABILITY),
    (HAIRCUT_CAP_INDEX_CONSTITUENT, date(2010, 3, 31), Decimal("0.70"), _MARGIN_RULES),
    (HAIRCUT_CAP_OTHER_A_SHARE, date(2010, 3, 31), Decimal("0.65"), _MARGIN_RULES),
    (HAIRCUT_CAP_ETF, date(2010, 3, 31), Decimal("0.90"), _MARGIN_RULES),
    (HAIRCUT_CAP_MONEY_MARKET_GOVT, date(2010, 3, 31), Decimal("0.95"), _MARGIN_RULES),
    (HAIRCUT_CAP_OTHER_FUND_BOND, date(2010, 3, 31), Decimal("0.80"), _MARGIN_RULES),
    (CONCENTRATION_CAP, date(2010, 3, 31), Decimal("0.60"), _DESK),
    (FLOAT_STOP_FRACTION, date(2010, 3, 31), Decimal("0.25"), _MARGIN_RULES),
    (FLOAT_RESUME_FRACTION, date(2010, 3, 31), Decimal("0.20"), _MARGIN_RULES),
    (NET_CAPITAL, date(2010, 3, 31), Decimal(20000000000), _DESK + " (firm net capital)"),
    (CLIENT_NET_CAPITAL_FRACTION, date(2010, 3, 31), Decimal("0.05"), _MARGIN_RULES),
    (TOTAL_NET_CAPITAL_MULTIPLE, date(2010, 3, 31), Decimal(4), _MARGIN_RULES),
    (STALE_PRICE_MINUTES, date(2010, 3, 31), Decimal(5), _DESK),
    (LIQUIDATION_SLIPPAGE, date(2010, 3, 31), Decimal("0.005"), _DESK_RISK),
    # a suspended security at its last price, no discount (desk risk policy)
    (SUSPENDED_VALUATION_DISCOUNT, date(2010, 3, 31), Decimal(0), _DESK_RISK + " (last price)"),
    (CALENDAR_WARNING_DAYS, date(2010, 3, 31), Decimal(60), _DESK + " (operations calendar)"),
    # maturity of financings: term and extension (exchange rules), reminders and penalty (desk)
    (FINANCING_MAX_TERM_MONTHS, date(2010, 3, 31), Decimal(6), _TERM_RULES),
    (EXTENSION_MAX_MONTHS, date(2019, 8, 9), Decimal(6), _EXTENSION_2019),
    (MATURITY_REMINDER_FIRST_DAYS, date(2010, 3, 31), Decimal(10), _DESK + " (maturity notices)"),
    (MATURITY_REMINDER_SECOND_DAYS, date(2010, 3, 31), Decimal(3), _DESK + " (maturity notices)"),
    (PENALTY_RATE_STANDARD, date(2010, 3, 31), Decimal("0.18"), _PENALTY_TARIFF),
    # trading fees
    (STAMP_DUTY_SALE, date(2008, 9, 19), Decimal("0.001"), _STAMP_2008),
    (STAMP_DUTY_SALE, date(2023, 8, 28), Decimal("0.0005"), _STAMP_2023),
    (TRANSFER_FEE, date(2015, 8, 1), Decimal("0.00002"), _TRANSFER_2015),
    (TRANSFER_FEE, date(2022, 4, 29), Decimal("0.00001"), _TRANSFER_2022),
    (COMMISSION_STANDARD_RATE, date(2010, 3, 31), Decimal("0.0003"), _TARIFF),
    (COMMISSION_MINIMUM, date(2010, 3, 31), Decimal(5), _TARIFF),
    # daily price band per board, around the previous close
    (PRICE_BAND_PREFIX + "main", date(1996, 12, 16), Decimal("0.10"), _PRICE_LIMITS_1996),
    (PRICE_BAND_ST_PREFIX + "main", date(1998, 4, 22), Decimal("0.05"), _ST_1998),
    (PRICE_BAND_PREFIX + "chinext", date(2009, 10, 30), Decimal("0.10"), _CHINEXT_2009),
    (PRICE_BAND_ST_PREFIX + "chinext", date(2009, 10, 30), Decimal("0.05"), _CHINEXT_2009),
    (PRICE_BAND_PREFIX + "chinext", date(2020, 8, 24), Decimal("0.20"), _CHINEXT_2020),
    (PRICE_BAND_ST_PREFIX + "chinext", date(2020, 8, 24), Decimal("0.20"), _CHINEXT_2020),
    (PRICE_BAND_PREFIX + "star", date(2019, 7, 22), Decimal("0.20"), _STAR_2019),
    (PRICE_BAND_ST_PREFIX + "star", date(2019, 7, 22), Decimal("0.20"), _STAR_2019),
    # no band in a newly registered listing's first trading days (0: banded from the first)
    (NO_BAND_DAYS_PREFIX + "main", date(1996, 12, 16), Decimal(0), _PRICE_LIMITS_1996),
    (NO_BAND_DAYS_PREFIX + "main", date(2023, 4, 10), Decimal(5), _MAIN_2023),
    (NO_BAND_DAYS_PREFIX + "chinext", date(2009, 10, 30), Decimal(0), _CHINEXT_2009),
    (NO_BAND_DAYS_PREFIX + "chinext", date(2020, 8, 24), Decimal(5), _CHINEXT_2020),
    (NO_BAND_DAYS_PREFIX + "star", date(2019, 7, 22), Decimal(5), _STAR_2019),
    # securities lending (融券)
    (SHORT_MARGIN_RATIO, date(2010, 3, 31), Decimal("0.50"), _SHORT_MARGIN_2010),
    (SHORT_MARGIN_RATIO, date(2023, 10, 16), Decimal("0.80"), _SHORT_MARGIN_2023),
    (SHORT_MARGIN_RATIO, date(2024, 7, 22), Decimal("1.00"), _SHORT_MARGIN_2024),
    (SHORT_MARGIN_RATIO_PRIVATE_FUND, date(2010, 3, 31), Decimal("0.50"), _SHORT_MARGIN_2010),
    (SHORT_MARGIN_RATIO_PRIVATE_FUND, date(2023, 10, 16), Decimal("1.00"), _SHORT_MARGIN_2023),
    (SHORT_MARGIN_RATIO_PRIVATE_FUND, date(2024, 7, 22), Decimal("1.20"), _SHORT_MARGIN_2024),
    (SHORT_FLOAT_STOP, date(2010, 3, 31), Decimal("0.25"), _SHORT_FLOAT),
    (SHORT_FLOAT_RESUME, date(2010, 3, 31), Decimal("0.20"), _SHORT_FLOAT),
    (REFINANCING_ENABLED, date(2019, 1, 1), Decimal(1), _REFINANCING_ON),
    (REFINANCING_ENABLED, date(2024, 7, 11), Decimal(0), _REFINANCING_OFF),
    (SHORT_FEE_RATE_STANDARD, date(2010, 3, 31), Decimal("0.0835"), _SHORT_FEE),
    (SHORT_MAX_TERM_MONTHS, date(2010, 3, 31), Decimal(6), _SHORT_TERM),
    # price tick (band edges are rounded to it) per instrument category
    (PRICE_TICK_PREFIX + "index_constituent", date(1996, 12, 16), Decimal("0.01"), _TRADING),
    (PRICE_TICK_PREFIX + "other_a_share", date(1996, 12, 16), Decimal("0.01"), _TRADING),
    (PRICE_TICK_PREFIX + "etf", date(1996, 12, 16), Decimal("0.001"), _TRADING),
    (PRICE_TICK_PREFIX + "money_market_govt", date(1996, 12, 16), Decimal("0.001"), _TRADING),
    (PRICE_TICK_PREFIX + "other_fund_bond", date(1996, 12, 16), Decimal("0.001"), _TRADING),
]


def seed_parameters(model) -> int:
    """Insert the seeded history rows that are missing; returns how many were added."""
    added = 0
    for key, effective_from, value, source in SEED:
        _obj, created = model.objects.get_or_create(
            key=key, effective_from=effective_from, defaults={"value": value, "source": source}
        )
        added += created
    return added
