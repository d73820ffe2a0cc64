"""The balance mirror's amount as float64 (double precision), the type the valuation reads: a
run converting millions of numerics to doubles spent a third of its read doing it (PostgreSQL
goes through the numeric's text form). The ledger keeps the exact amount; the mirror holds its
nearest double, written by the same triggers (re-created here with the explicit conversion)."""

from django.db import migrations, models

SQL = r"""
CREATE OR REPLACE FUNCTION lending_riskbalance_fill() RETURNS bigint LANGUAGE sql AS $$
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

CREATE OR REPLACE FUNCTION lending_riskbalance_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lending_riskbalance r SET amount = (c.balance * c.normal_sign)::float8
      FROM changed c
     WHERE r.ledger_account_id = c.account_id
       AND r.amount <> (c.balance * c.normal_sign)::float8;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0009_snapshots_by_column"),
    ]

    operations = [
        migrations.AlterField(
            model_name="riskbalance",
            name="amount",
            field=models.FloatField(default=0, verbose_name="amount"),
        ),
        migrations.RunSQL(SQL, migrations.RunSQL.noop),
    ]
