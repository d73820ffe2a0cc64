"""Append-only evidence: acknowledgements and compliance's history tables refuse UPDATE and DELETE.

- A disclosure acknowledgement and a restricted-holder declaration never change once written
  (append_only_refuse, accounts/append_only.py).
- A suitability match records the decision and the warning shown; the investor's
  confirmation of that warning (time, IP, user agent) is written once, from empty. Every
  other UPDATE, and every DELETE, is refused.
"""

from django.db import migrations

from accounts import append_only

MATCH_SQL = r"""
CREATE FUNCTION compliance_match_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'compliance_suitabilitymatch is append-only evidence: DELETE refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.investor_id, NEW.assessment_id, NEW.product_id, NEW.product_risk_level,
        NEW.risk_class, NEW.outcome, NEW.warning_text, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.investor_id, OLD.assessment_id, OLD.product_id, OLD.product_risk_level,
        OLD.risk_class, OLD.outcome, OLD.warning_text, OLD.created_at) THEN
        RAISE EXCEPTION 'suitability match %: the decision and the warning shown never change',
            OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.confirmed_at, NEW.confirmed_ip, NEW.confirmed_user_agent)
       IS DISTINCT FROM (OLD.confirmed_at, OLD.confirmed_ip, OLD.confirmed_user_agent)
       AND (OLD.confirmed_at IS NOT NULL OR NEW.confirmed_at IS NULL) THEN
        RAISE EXCEPTION 'suitability match %: a warning is confirmed once, and that is final',
            OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER compliance_match_evidence BEFORE UPDATE OR DELETE ON compliance_suitabilitymatch
    FOR EACH ROW EXECUTE FUNCTION compliance_match_evidence();
"""

MATCH_REVERSE = r"""
DROP TRIGGER IF EXISTS compliance_match_evidence ON compliance_suitabilitymatch;
DROP FUNCTION IF EXISTS compliance_match_evidence();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0013_calendar_year_four_eyes"),
        ("accounts", "0005_append_only_evidence"),
    ]

    operations = [
        append_only.protect(
            "compliance_disclosureacknowledgement", "compliance_restricteddeclaration"
        ),
        migrations.RunSQL(MATCH_SQL, MATCH_REVERSE),
        append_only.protect_history("compliance"),
    ]
