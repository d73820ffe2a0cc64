"""Append-only evidence: margin events, notices and delivery proofs, and lending's history tables refuse UPDATE and DELETE.

- A margin event never changes once written (append_only_refuse, accounts/append_only.py).
- A notice: what it says, to whom, about what and when it was written never change. Its
  delivery proof (sent at, delivered, error) is recorded by each e-mail attempt until one
  succeeds (every attempt keeps its history row) and is final once delivered; an attempt is
  never erased. The investor's acknowledgement is written once, from empty, and is final.
  Every other UPDATE, and every DELETE, is refused.
"""

from django.db import migrations

from accounts import append_only

NOTICE_SQL = r"""
CREATE FUNCTION lending_notice_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'lending_notice is append-only evidence: DELETE refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.credit_account_id, NEW.call_id, NEW.financing_id, NEW.kind, NEW.stage,
        NEW.warning_episode, NEW.channel, NEW.recipient, NEW.subject, NEW.body, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.credit_account_id, OLD.call_id, OLD.financing_id, OLD.kind, OLD.stage,
        OLD.warning_episode, OLD.channel, OLD.recipient, OLD.subject, OLD.body, OLD.created_at)
    THEN
        RAISE EXCEPTION 'notice %: what a notice says, to whom and when never change', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.sent_at, NEW.delivered, NEW.delivery_error)
       IS DISTINCT FROM (OLD.sent_at, OLD.delivered, OLD.delivery_error) THEN
        IF OLD.delivered IS TRUE THEN
            RAISE EXCEPTION 'notice %: the delivery proof is final once delivered', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF (OLD.sent_at IS NOT NULL AND NEW.sent_at IS NULL)
           OR (OLD.delivered IS NOT NULL AND NEW.delivered IS NULL) THEN
            RAISE EXCEPTION 'notice %: a delivery attempt is never erased', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF (NEW.acknowledged_at, NEW.acknowledged_by_id)
       IS DISTINCT FROM (OLD.acknowledged_at, OLD.acknowledged_by_id)
       AND (OLD.acknowledged_at IS NOT NULL OR OLD.acknowledged_by_id IS NOT NULL
            OR NEW.acknowledged_at IS NULL) THEN
        RAISE EXCEPTION 'notice %: an acknowledgement is written once, and that is final',
            OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER lending_notice_evidence BEFORE UPDATE OR DELETE ON lending_notice
    FOR EACH ROW EXECUTE FUNCTION lending_notice_evidence();
"""

NOTICE_REVERSE = r"""
DROP TRIGGER IF EXISTS lending_notice_evidence ON lending_notice;
DROP FUNCTION IF EXISTS lending_notice_evidence();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0023_restricted_shares_calendar"),
        ("accounts", "0005_append_only_evidence"),
    ]

    operations = [
        append_only.protect("lending_marginevent"),
        migrations.RunSQL(NOTICE_SQL, NOTICE_REVERSE),
        append_only.protect_history("lending"),
    ]
