"""The ledger invariants, enforced by PostgreSQL itself (see custody/models.py docstring).

Hand-written rather than pgtrigger-generated so every statement on the posting hot path is
visible here and costs what it says: one statement trigger per INSERT into custody_posting
(set-based over the transition table) and one deferred check per journal entry at commit.
"""

from django.db import migrations

SQL = r"""
-- 1. Each ledger account gets its balance row in the same statement that creates it.
CREATE FUNCTION custody_account_balance_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO custody_accountbalance (account_id, unit, normal_sign, no_overdraft,
                                        balance, posting_count)
    VALUES (NEW.id, NEW.unit,
            CASE WHEN NEW.account_type IN ('asset', 'expense') THEN 1 ELSE -1 END,
            NEW.client_money, 0, 0);
    RETURN NULL;
END $$;
CREATE TRIGGER custody_account_balance_row AFTER INSERT ON custody_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION custody_account_balance_row();

-- 2. What an account is (unit, type, owner, purpose) never changes; accounts are never deleted.
CREATE FUNCTION custody_account_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger account % cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.unit, NEW.account_type, NEW.owner, NEW.investor_id, NEW.client_money,
        NEW.segregated, NEW.purpose_key, NEW.purpose)
       IS DISTINCT FROM
       (OLD.unit, OLD.account_type, OLD.owner, OLD.investor_id, OLD.client_money,
        OLD.segregated, OLD.purpose_key, OLD.purpose) THEN
        RAISE EXCEPTION 'ledger account %: unit, type, owner and purpose never change', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER custody_account_frozen BEFORE UPDATE OR DELETE ON custody_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION custody_account_frozen();

-- 3. An entry records the (top-level) transaction that creates it and the time; only that
--    transaction may add postings to it.
CREATE FUNCTION custody_entry_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.tx_id := txid_current();
    NEW.created_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER custody_entry_stamp BEFORE INSERT ON custody_journalentry
    FOR EACH ROW EXECUTE FUNCTION custody_entry_stamp();

-- 4. Entries and postings are never updated or deleted: corrections are reversal entries.
CREATE FUNCTION custody_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (post a reversal entry instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER custody_entry_append_only BEFORE UPDATE OR DELETE ON custody_journalentry
    FOR EACH ROW EXECUTE FUNCTION custody_append_only();
CREATE TRIGGER custody_posting_append_only BEFORE UPDATE OR DELETE ON custody_posting
    FOR EACH ROW EXECUTE FUNCTION custody_append_only();

-- 5. At commit, every entry has two or more postings and sums to zero per unit.
CREATE FUNCTION custody_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    legs bigint;
    unbalanced text;
BEGIN
    SELECT coalesce(sum(n), 0), string_agg(unit || ' off by ' || total, ', ')
                                    FILTER (WHERE total <> 0)
      INTO legs, unbalanced
      FROM (SELECT unit, count(*) AS n, sum(amount) AS total
              FROM custody_posting WHERE entry_id = NEW.id GROUP BY unit) per_unit;
    IF legs < 2 THEN
        RAISE EXCEPTION 'journal entry % has % posting(s); an entry needs two or more',
            NEW.id, legs USING ERRCODE = 'check_violation';
    END IF;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance: %', NEW.id, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER custody_entry_balanced AFTER INSERT ON custody_journalentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION custody_entry_balanced();

-- 6. Per INSERT statement on postings (set-based): postings belong to entries of this
--    transaction and carry their account's unit; balance rows are locked in primary-key
--    order, then moved. The CHECK on custody_accountbalance keeps client money >= 0.
CREATE FUNCTION custody_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT p.entry_id INTO bad FROM new_postings p
      JOIN custody_journalentry e ON e.id = p.entry_id
     WHERE e.tx_id <> txid_current() LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is already posted: postings cannot be added to it',
            bad.entry_id USING ERRCODE = 'restrict_violation';
    END IF;
    SELECT p.account_id, p.unit, b.unit AS account_unit INTO bad FROM new_postings p
      LEFT JOIN custody_accountbalance b ON b.account_id = p.account_id
     WHERE b.unit IS DISTINCT FROM p.unit LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting unit % does not match account % unit %',
            bad.unit, bad.account_id, bad.account_unit USING ERRCODE = 'check_violation';
    END IF;
    PERFORM 1 FROM custody_accountbalance
      WHERE account_id IN (SELECT account_id FROM new_postings)
      ORDER BY account_id FOR UPDATE;
    UPDATE custody_accountbalance b
       SET balance = b.balance + d.delta, posting_count = b.posting_count + d.n
      FROM (SELECT account_id, sum(amount) AS delta, count(*) AS n
              FROM new_postings GROUP BY account_id) d
     WHERE b.account_id = d.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER custody_posting_apply AFTER INSERT ON custody_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION custody_posting_apply();

-- 7. Balance rows move only through trigger 6 (pg_trigger_depth() is 0 for a direct UPDATE).
CREATE FUNCTION custody_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'custody_accountbalance is written only by the posting trigger: % refused',
        TG_OP USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER custody_balance_guard BEFORE UPDATE OR DELETE ON custody_accountbalance
    FOR EACH ROW WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION custody_balance_guard();
"""

REVERSE = r"""
DROP TRIGGER custody_balance_guard ON custody_accountbalance;
DROP TRIGGER custody_posting_apply ON custody_posting;
DROP TRIGGER custody_entry_balanced ON custody_journalentry;
DROP TRIGGER custody_posting_append_only ON custody_posting;
DROP TRIGGER custody_entry_append_only ON custody_journalentry;
DROP TRIGGER custody_entry_stamp ON custody_journalentry;
DROP TRIGGER custody_account_frozen ON custody_ledgeraccount;
DROP TRIGGER custody_account_balance_row ON custody_ledgeraccount;
DROP FUNCTION custody_balance_guard(), custody_posting_apply(), custody_entry_balanced(),
    custody_append_only(), custody_entry_stamp(), custody_account_frozen(),
    custody_account_balance_row();
"""


class Migration(migrations.Migration):
    dependencies = [("custody", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
