"""Rotating the field encryption key: the old key moved to FIELD_ENCRYPTION_KEY_FALLBACKS
still decrypts, `manage.py field_keys_rotate` re-encrypts every identity and bank-account
number under the new key (digests and masks unchanged, a history row each), after which the
old key can be dropped."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command

from accounts import sensitive
from accounts.models import InvestorProfile

pytestmark = pytest.mark.django_db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def test_a_rotated_key_keeps_every_number_readable_and_findable(settings, make_investor, capsys):
    # given: two investors written under the old key
    settings.FIELD_ENCRYPTION_KEY, settings.FIELD_DIGEST_KEY = OLD, OLD
    first = make_investor(id_number="110101199003071234", bank_account="6222021234567890123")
    second = make_investor()
    before = {
        p.pk: (p.id_number_digest, p.bank_account_digest, p.id_number_masked)
        for p in InvestorProfile.objects.all()
    }
    history_before = first.history.count()

    # when: the new key encrypts and the old one is a fallback (digests keep the old key)
    settings.FIELD_ENCRYPTION_KEY = NEW
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = [OLD]
    first.refresh_from_db()
    # then: still readable before the rotation, through the fallback
    assert first.reveal_id_number() == "110101199003071234"
    assert not sensitive.under_current_key(first.id_number_encrypted)

    call_command("field_keys_rotate")
    assert capsys.readouterr().out.strip() == (
        "2 of 2 investor profiles re-encrypted under the current key"
    )

    # then: every value is under the new key alone; digests, masks, lookups unchanged
    for profile in InvestorProfile.objects.all():
        for name in ("id_number_encrypted", "bank_account_encrypted"):
            Fernet(NEW.encode()).decrypt(getattr(profile, name).encode())
            with pytest.raises(InvalidToken):
                Fernet(OLD.encode()).decrypt(getattr(profile, name).encode())
        assert (
            profile.id_number_digest,
            profile.bank_account_digest,
            profile.id_number_masked,
        ) == before[profile.pk]
    first.refresh_from_db()
    assert first.is_bank_account_of_record("6222 0212 3456 7890 123")
    assert first.history.count() == history_before + 1
    assert first.history.latest().history_change_reason == "system: field encryption key rotated"

    # the old key dropped: everything still decrypts
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = []
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.reveal_id_number() == "110101199003071234"
    assert sensitive.decrypt(second.bank_account_encrypted).startswith("62170000")

    # a second run finds nothing to do
    call_command("field_keys_rotate")
    assert capsys.readouterr().out.startswith("0 of 2 ")


def test_a_value_under_an_unknown_key_is_refused_not_rewritten(settings, make_investor):
    settings.FIELD_ENCRYPTION_KEY, settings.FIELD_DIGEST_KEY = OLD, OLD
    profile = make_investor()
    settings.FIELD_ENCRYPTION_KEY = NEW  # the old key forgotten: no fallback
    with pytest.raises(InvalidToken):
        call_command("field_keys_rotate")
    profile.refresh_from_db()
    Fernet(OLD.encode()).decrypt(profile.id_number_encrypted.encode())  # untouched
