"""The balance mirror of the mark-to-market (lending.RiskBalance, migration 0008) learns the
short side (issue 22): kind 5, the shares a client owes (custody purpose short_securities, per
instrument unit, linked to its instrument like client securities), kind 6, the restricted
proceeds of short sales (short_proceeds, CNY), and kind 7, the lending fees, compensation and
buy-in shortfalls owed (lending_fee_receivable, CNY). lending.mtm.book_arrays reads them with
the rest of an investor's balances in one range scan, as account_view reads the ledger.

The functions that match a unit to its instrument (fill, open, instrument relink, breaks) now
do so for both securities purposes; the existing short-side ledger accounts are mirrored by
the fill at the end.
"""

from django.db import migrations, models

SECURITIES = "('client_securities', 'short_securities')"


def _functions(securities: str, kinds: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION lending_riskbalance_kind(purpose text, unit text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN purpose = 'client_securities' THEN 3
                 {kinds}
                 WHEN unit <> 'CNY' THEN NULL
                 WHEN purpose = 'client_money' THEN 0
                 WHEN purpose = 'financing_receivable' THEN 1
                 WHEN purpose = 'interest_receivable' THEN 2
                 WHEN purpose = 'entitlement_receivable' THEN 4
                 @MONEY_KINDS@ END)::smallint
$$;

CREATE OR REPLACE FUNCTION lending_riskbalance_fill() RETURNS bigint LANGUAGE sql AS $$
    WITH added AS (
        INSERT INTO lending_riskbalance (ledger_account_id, investor_id, kind, instrument_id,
                                         amount)
        SELECT la.id, la.investor_id, lending_riskbalance_kind(la.purpose, la.unit), i.id,
               coalesce(b.balance * b.normal_sign, 0)::float8
          FROM custody_ledgeraccount la
          LEFT JOIN custody_accountbalance b ON b.account_id = la.id
          LEFT JOIN lending_instrument i ON la.purpose IN {securities}
               AND i.exchange = split_part(la.unit, ':', 1) AND i.code = split_part(la.unit, ':', 2)
         WHERE la.investor_id IS NOT NULL
           AND lending_riskbalance_kind(la.purpose, la.unit) IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lending_riskbalance r WHERE r.ledger_account_id = la.id)
        RETURNING 1)
    SELECT count(*) FROM added
$$;

CREATE OR REPLACE FUNCTION lending_riskbalance_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lending_riskbalance (ledger_account_id, investor_id, kind, instrument_id, amount)
    SELECT la.id, la.investor_id, lending_riskbalance_kind(la.purpose, la.unit), i.id, 0
      FROM created la
      LEFT JOIN lending_instrument i ON la.purpose IN {securities}
           AND i.exchange = split_part(la.unit, ':', 1) AND i.code = split_part(la.unit, ':', 2)
     WHERE la.investor_id IS NOT NULL
       AND lending_riskbalance_kind(la.purpose, la.unit) IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION lending_riskbalance_instrument() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.exchange, NEW.code) = (OLD.exchange, OLD.code) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE lending_riskbalance SET instrument_id = NULL WHERE instrument_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE lending_riskbalance r SET instrument_id = NEW.id
          FROM custody_ledgeraccount la
         WHERE la.unit = NEW.exchange || ':' || NEW.code AND la.purpose IN {securities}
           AND r.ledger_account_id = la.id;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION lending_riskbalance_breaks()
RETURNS TABLE (ledger_account_id bigint, ledger_amount float8, mirror_amount float8,
               ledger_instrument_id integer, mirror_instrument_id integer)
LANGUAGE sql STABLE AS $$
    WITH expected AS (
        SELECT la.id, la.investor_id, lending_riskbalance_kind(la.purpose, la.unit) AS kind,
               i.id AS instrument_id, coalesce(b.balance * b.normal_sign, 0)::float8 AS amount
          FROM custody_ledgeraccount la
          LEFT JOIN custody_accountbalance b ON b.account_id = la.id
          LEFT JOIN lending_instrument i ON la.purpose IN {securities}
               AND i.exchange = split_part(la.unit, ':', 1) AND i.code = split_part(la.unit, ':', 2)
         WHERE la.investor_id IS NOT NULL
           AND lending_riskbalance_kind(la.purpose, la.unit) IS NOT NULL)
    SELECT coalesce(e.id, r.ledger_account_id)::bigint, e.amount, r.amount,
           e.instrument_id::integer, r.instrument_id::integer
      FROM expected e
      FULL JOIN lending_riskbalance r ON r.ledger_account_id = e.id
     WHERE (e.id, e.investor_id, e.kind, e.instrument_id, e.amount) IS DISTINCT FROM
           (r.ledger_account_id, r.investor_id, r.kind, r.instrument_id, r.amount)
$$;
""".replace("@MONEY_KINDS@", MONEY_KINDS if kinds else "")


MONEY_KINDS = """WHEN purpose = 'short_proceeds' THEN 6
                 WHEN purpose = 'lending_fee_receivable' THEN 7"""

SQL = (
    _functions(SECURITIES, "WHEN purpose = 'short_securities' THEN 5")
    + "SELECT lending_riskbalance_fill();\n"
)

REVERSE = (
    "SET LOCAL lending.riskbalance_repair = 'on';\n"
    "DELETE FROM lending_riskbalance WHERE kind IN (5, 6, 7);\n"
    + _functions("('client_securities')", "")
)


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0030_liquidation_line_side"),
    ]

    operations = [
        migrations.RunSQL(SQL, REVERSE),
        migrations.AlterField(
            model_name="riskbalance",
            name="kind",
            field=models.SmallIntegerField(
                choices=[
                    (0, "Client money"),
                    (1, "Financing receivable"),
                    (2, "Interest receivable"),
                    (3, "Client securities"),
                    (4, "Dividend entitlement receivable"),
                    (5, "Securities owed (short)"),
                    (6, "Restricted short-sale proceeds"),
                    (7, "Securities lending receivable"),
                ],
                verbose_name="kind",
            ),
        ),
    ]
