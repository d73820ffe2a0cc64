"""The inputs per client of every requirement computed so far, moved from its JSON document
(`details`: [{"investor", "credit", "debit", "debit_counted"}], amounts as strings) into its
lines, and the summary's count of clients filled in, on the rows and on their history rows.

Requirements were never changed after they were written, so a row's document is the one each
of its history rows holds; the history rows get their count from their own document. History
tables are append-only evidence (accounts/append_only.py): this migration drops the trigger of
the one history table it fills in and creates it again after its UPDATE, in the same
transaction. Backwards, the documents are rebuilt from the lines."""

from django.db import migrations

from accounts import append_only

HISTORY = "custody_historicalclientmoneyrequirement"

FORWARDS = f"""
INSERT INTO custody_clientmoneyrequirementline
       (requirement_id, investor_id, credit, debit, debit_counted)
SELECT r.id, (d ->> 'investor')::bigint, (d ->> 'credit')::numeric, (d ->> 'debit')::numeric,
       (d ->> 'debit_counted')::numeric
  FROM custody_clientmoneyrequirement r
 CROSS JOIN LATERAL jsonb_array_elements(
       CASE WHEN jsonb_typeof(r.details) = 'array' THEN r.details ELSE '[]'::jsonb END) d
 WHERE d ->> 'investor' IS NOT NULL
 ORDER BY r.id, (d ->> 'investor')::bigint
    ON CONFLICT (requirement_id, investor_id) DO NOTHING;
UPDATE custody_clientmoneyrequirement r
   SET clients = (SELECT count(*) FROM custody_clientmoneyrequirementline l
                   WHERE l.requirement_id = r.id);
{append_only.unprotect_sql([HISTORY])}
UPDATE {HISTORY}
   SET clients = CASE WHEN jsonb_typeof(details) = 'array'
                      THEN jsonb_array_length(details) ELSE 0 END;
{append_only.protect_sql([HISTORY])}
"""

BACKWARDS = f"""
UPDATE custody_clientmoneyrequirement r
   SET details = coalesce(
       (SELECT jsonb_agg(jsonb_build_object(
                   'investor', l.investor_id, 'credit', l.credit::text, 'debit', l.debit::text,
                   'debit_counted', l.debit_counted::text) ORDER BY l.investor_id)
          FROM custody_clientmoneyrequirementline l WHERE l.requirement_id = r.id), '[]'::jsonb);
{append_only.unprotect_sql([HISTORY])}
UPDATE {HISTORY} h SET details = r.details
  FROM custody_clientmoneyrequirement r WHERE r.id = h.id;
{append_only.protect_sql([HISTORY])}
"""


class Migration(migrations.Migration):
    dependencies = [("custody", "0011_client_money_requirement_lines")]

    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]
