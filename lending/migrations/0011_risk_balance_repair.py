"""The balance mirror checked against the ledger, and repaired from it, in SQL.

The triggers of 0008 keep lending_riskbalance equal to the ledger in the posting's own
transaction. Only a session that switched triggers off (`session_replication_role = replica`:
a bulk load, a restore with triggers disabled, logical replication) can leave it behind, and a
mark-to-market reading a stale mirror would value accounts at balances they no longer hold.

1. `lending_riskbalance_breaks()`: every client ledger account whose mirror row is missing or
   differs (amount, investor, kind or instrument), and every mirror row without its ledger
   account. The one definition of a break (lending.book_arrays.mirror_breaks reads it).
2. `lending_riskbalance_repair()`: under SHARE locks on the ledger accounts and balances (a
   posting waits the repair out instead of moving a row it is rewriting), deletes the broken
   mirror rows and adds them again from the ledger; returns how many ledger accounts it
   repaired. The guard lets it write by a transaction-local setting it clears itself.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION lending_riskbalance_breaks()
RETURNS TABLE (ledger_account_id bigint, ledger_amount float8, mirror_amount float8,
               ledger_instrument_id integer, mirror_instrument_id integer)
LANGUAGE sql STABLE AS $$
    WITH expected AS (
        SELECT la.id, la.investor_id, lending_riskbalance_kind(la.purpose, la.unit) AS kind,
               i.id AS instrument_id, coalesce(b.balance * b.normal_sign, 0)::float8 AS amount
          FROM custody_ledgeraccount la
          LEFT JOIN custody_accountbalance b ON b.account_id = la.id
          LEFT JOIN lending_instrument i ON la.purpose = 'client_securities'
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

CREATE FUNCTION lending_riskbalance_repair() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    broken bigint[];
BEGIN
    LOCK TABLE custody_ledgeraccount, custody_accountbalance IN SHARE MODE;
    SELECT coalesce(array_agg(b.ledger_account_id), '{}') INTO broken
      FROM lending_riskbalance_breaks() b;
    IF cardinality(broken) > 0 THEN
        PERFORM set_config('lending.riskbalance_repair', 'on', true);
        DELETE FROM lending_riskbalance WHERE ledger_account_id = ANY(broken);
        PERFORM lending_riskbalance_fill();
        PERFORM set_config('lending.riskbalance_repair', 'off', true);
    END IF;
    RETURN cardinality(broken);
END $$;

CREATE OR REPLACE FUNCTION lending_riskbalance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('lending.riskbalance_repair', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'lending_riskbalance is written only by the ledger triggers: % refused',
        TG_OP USING ERRCODE = 'restrict_violation';
END $$;
"""

REVERSE = r"""
CREATE OR REPLACE FUNCTION lending_riskbalance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lending_riskbalance is written only by the ledger triggers: % refused',
        TG_OP USING ERRCODE = 'restrict_violation';
END $$;
DROP FUNCTION lending_riskbalance_repair();
DROP FUNCTION lending_riskbalance_breaks();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0010_notice_email_outbox"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
