"""The mark-to-market's balance mirror (lending.models.RiskBalance), kept by PostgreSQL.

A mark-to-market shard reads every balance of its investors; joining the ledger accounts, their
balances and the instrument of each securities unit string for a million accounts cost most of a
run. The mirror holds the same balances keyed by integers, written in the same transaction as
the ledger by these triggers (hand-written, as custody's ledger invariants are):

1. a client ledger account the mark-to-market values gets its mirror row when it is created;
2. a statement that moves ledger balances (the custody posting trigger) moves the mirror rows;
3. an instrument created, renamed or deleted (re)links the securities rows of its unit;
4. nothing else writes the mirror.

Amounts are float64 (double precision), the type the valuation reads: converting millions of
numerics to doubles at every run would cost a third of its read (PostgreSQL goes through the
numeric's text form). The ledger keeps the exact amount; the mirror holds its nearest double.

`lending_riskbalance_fill()` adds the rows missing for existing ledger accounts (this migration;
the mark-to-market benchmark, which loads its ledger with triggers off).
"""

import django.db.models.deletion
from django.db import migrations, models

SQL = r"""
CREATE FUNCTION lending_riskbalance_kind(purpose text, unit text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN purpose = 'client_securities' THEN 3
                 WHEN unit <> 'CNY' THEN NULL
                 WHEN purpose = 'client_money' THEN 0
                 WHEN purpose = 'financing_receivable' THEN 1
                 WHEN purpose = 'interest_receivable' THEN 2 END)::smallint
$$;

CREATE FUNCTION lending_riskbalance_fill() RETURNS bigint LANGUAGE sql AS $$
    WITH added AS (
        INSERT INTO lending_riskbalance (ledger_account_id, investor_id, kind, instrument_id,
                                         amount)
        SELECT la.id, la.investor_id, lending_riskbalance_kind(la.purpose, la.unit), i.id,
               coalesce(b.balance * b.normal_sign, 0)::float8
          FROM custody_ledgeraccount la
          LEFT JOIN custody_accountbalance b ON b.account_id = la.id
          LEFT JOIN lending_instrument i ON la.purpose = 'client_securities'
               AND i.exchange = split_part(la.unit, ':', 1) AND i.code = split_part(la.unit, ':', 2)
         WHERE la.investor_id IS NOT NULL
           AND lending_riskbalance_kind(la.purpose, la.unit) IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lending_riskbalance r WHERE r.ledger_account_id = la.id)
        RETURNING 1)
    SELECT count(*) FROM added
$$;

-- 1. new client ledger accounts (set-based over the statement's new rows)
CREATE FUNCTION lending_riskbalance_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lending_riskbalance (ledger_account_id, investor_id, kind, instrument_id, amount)
    SELECT la.id, la.investor_id, lending_riskbalance_kind(la.purpose, la.unit), i.id, 0
      FROM created la
      LEFT JOIN lending_instrument i ON la.purpose = 'client_securities'
           AND i.exchange = split_part(la.unit, ':', 1) AND i.code = split_part(la.unit, ':', 2)
     WHERE la.investor_id IS NOT NULL
       AND lending_riskbalance_kind(la.purpose, la.unit) IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER lending_riskbalance_open AFTER INSERT ON custody_ledgeraccount
    REFERENCING NEW TABLE AS created
    FOR EACH STATEMENT EXECUTE FUNCTION lending_riskbalance_open();

-- 2. balances moved by the posting trigger (set-based over the statement's changed rows)
CREATE FUNCTION lending_riskbalance_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lending_riskbalance r SET amount = (c.balance * c.normal_sign)::float8
      FROM changed c
     WHERE r.ledger_account_id = c.account_id
       AND r.amount <> (c.balance * c.normal_sign)::float8;
    RETURN NULL;
END $$;
CREATE TRIGGER lending_riskbalance_follow AFTER UPDATE ON custody_accountbalance
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION lending_riskbalance_follow();

-- 3. instruments: a securities unit counts once an instrument has it
CREATE FUNCTION lending_riskbalance_instrument() RETURNS trigger LANGUAGE plpgsql AS $$
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
         WHERE la.unit = NEW.exchange || ':' || NEW.code AND la.purpose = 'client_securities'
           AND r.ledger_account_id = la.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lending_riskbalance_instrument
    AFTER INSERT OR UPDATE OF exchange, code OR DELETE ON lending_instrument
    FOR EACH ROW EXECUTE FUNCTION lending_riskbalance_instrument();

SELECT lending_riskbalance_fill();

-- 4. only the triggers above write the mirror (pg_trigger_depth() is 0 for a direct write)
CREATE FUNCTION lending_riskbalance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lending_riskbalance is written only by the ledger triggers: % refused',
        TG_OP USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER lending_riskbalance_guard BEFORE INSERT OR UPDATE OR DELETE ON lending_riskbalance
    FOR EACH ROW WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION lending_riskbalance_guard();
"""

REVERSE = r"""
DROP TRIGGER lending_riskbalance_guard ON lending_riskbalance;
DROP TRIGGER lending_riskbalance_instrument ON lending_instrument;
DROP TRIGGER lending_riskbalance_follow ON custody_accountbalance;
DROP TRIGGER lending_riskbalance_open ON custody_ledgeraccount;
DROP FUNCTION lending_riskbalance_guard();
DROP FUNCTION lending_riskbalance_instrument();
DROP FUNCTION lending_riskbalance_follow();
DROP FUNCTION lending_riskbalance_open();
DROP FUNCTION lending_riskbalance_fill();
DROP FUNCTION lending_riskbalance_kind(text, text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0005_ledger_unit_index"),
        ("lending", "0007_history_reason_text"),
    ]

    operations = [
        migrations.CreateModel(
            name="RiskBalance",
            fields=[
                (
                    "ledger_account",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="custody.ledgeraccount",
                    ),
                ),
                ("investor_id", models.BigIntegerField(verbose_name="investor")),
                (
                    "kind",
                    models.SmallIntegerField(
                        choices=[
                            (0, "Client money"),
                            (1, "Financing receivable"),
                            (2, "Interest receivable"),
                            (3, "Client securities"),
                        ],
                        verbose_name="kind",
                    ),
                ),
                (
                    "instrument_id",
                    models.IntegerField(blank=True, null=True, verbose_name="instrument"),
                ),
                ("amount", models.FloatField(default=0, verbose_name="amount")),
            ],
            options={
                "verbose_name": "mark-to-market balance",
                "verbose_name_plural": "mark-to-market balances",
                "indexes": [
                    models.Index(fields=["investor_id"], name="lending_riskbal_investor"),
                    models.Index(fields=["instrument_id"], name="lending_riskbal_instrument"),
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
