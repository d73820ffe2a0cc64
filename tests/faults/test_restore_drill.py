"""The restore drill of docs/OPERATIONS.md, run for real: a base backup plus archived WAL,
restored into a new private cluster up to a named restore point, holds exactly the ledger of
that point.

Set-up: a private cluster (tools/private_services.py) with WAL archiving on (archive_mode,
archive_command copying each segment into an archive directory), migrated with `manage.py
migrate` as a deployment is. This process's Django connection points at it while journal
entries are posted through custody's real services:

1. three entries, then `pg_basebackup` (the nightly base backup);
2. two more entries (only in the WAL after the backup), then `pg_create_restore_point('drill')`
   and the ledger's fingerprint noted (entries, postings, every account's total);
3. one more entry after the restore point; the WAL segment switched and archived.

The drill: the base backup copied into a new data directory, `recovery.signal` with a
restore_command reading the archive and recovery_target_name='drill', started on another port
and promoted. Its ledger must be the fingerprint of step 2 exactly: the two entries replayed
from the WAL present, the entry after the point absent, every account's total equal, the
running balances equal to the postings, trial balance zero."""

import shutil
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.binaries import need_binary
from tests.faults.conftest import django_on, ledger_state, report
from tools.private_services import PrivatePostgres, migrate, pg_bindir

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

D = Decimal
DATABASE = "margindesk_fault"


def _append_conf(pg: PrivatePostgres, lines: dict[str, str]) -> None:
    conf = pg.data / "postgresql.auto.conf"
    with conf.open("a") as f:
        for name, value in lines.items():
            f.write(f"{name} = '{value}'\n")
    pg.own(conf)


def _post(memo: str, amount: str, income: bool = False):
    """One balanced entry through custody's front door: the house bank debited, house capital
    (or fee income) credited."""
    from custody import services as custody

    bank = custody.house_account("house_bank", "CNY")
    other = custody.house_account("fee_income" if income else "house_equity", "CNY")
    return custody.entry_post(
        legs=[custody.debit(bank, D(amount)), custody.credit(other, D(amount))],
        memo=memo,
        actor=None,
        idempotency_key=f"drill-{memo}",
    )


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except subprocess.CalledProcessError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def drill_dir():
    bindir = pg_bindir()
    for tool in ("initdb", "pg_ctl", "createdb", "psql", "pg_basebackup"):
        need_binary(bindir / tool if bindir else tool, "the restore drill's private clusters")
    path = Path(tempfile.mkdtemp(prefix="margindesk-drill-"))
    try:
        yield bindir, path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_base_backup_plus_wal_restores_the_ledger_of_the_restore_point(drill_dir):
    from custody.models import AccountBalance, JournalEntry
    from custody.selectors import trial_balance

    bindir, work = drill_dir
    t0 = time.monotonic()
    archive = work / "wal-archive"
    primary = PrivatePostgres(bindir, directory=work / "primary")
    archive.mkdir()
    primary.own(work)
    primary.own(archive)
    restored = None
    try:
        primary.initdb()
        _append_conf(
            primary,
            {
                "wal_level": "replica",
                "archive_mode": "on",
                "archive_command": f"test ! -f {archive}/%f && cp %p {archive}/%f",
                "full_page_writes": "on",  # a base backup needs them (the fault tests' are off)
            },
        )
        primary.pg_ctl_start()
        primary.createdb(DATABASE)
        done = migrate(primary.url(DATABASE), timeout=300)
        assert done.returncode == 0, done.stderr
        t_migrated = time.monotonic()

        with django_on(primary.port, DATABASE):
            # 1. three entries, then the base backup
            _post("capital", "1000000.00")
            _post("fee-1", "250.00", income=True)
            _post("capital-2", "40000.00")
            base = work / "base"
            primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port),
                        "-U", "postgres", "-D", str(base), "-X", "fetch", "-c", "fast",
                        timeout=120)  # fmt: skip
            # 2. two entries only the WAL holds, then the restore point
            _post("fee-2", "1234.56", income=True)
            _post("capital-3", "5000.00")
            at_point = ledger_state()
            balances_at_point = dict(AccountBalance.objects.values_list("account_id", "balance"))
            primary.psql(DATABASE, "SELECT pg_create_restore_point('drill')")
            # 3. an entry after the point, and the segment holding the point archived
            _post("after-the-point", "999.99")
            segment = primary.psql(DATABASE, "SELECT pg_walfile_name(pg_switch_wal())")
            _wait(lambda: (archive / segment).exists(), 30, f"WAL segment {segment} archived")
            on_primary = ledger_state()
            bank_id = JournalEntry.objects.get(memo="capital").postings.order_by("pk")[0].account_id

        # the primary ends with 6 entries; the bank's total there is
        # 1,000,000 + 250 + 40,000 + 1,234.56 + 5,000 + 999.99 = 1,047,484.55
        assert on_primary["entries"] == 6
        assert on_primary["accounts"][bank_id] == D("1047484.55")
        # at the point: 5 entries, 10 postings; the bank 1,046,484.56
        assert at_point["entries"] == 5 and at_point["postings"] == 10
        assert at_point["accounts"][bank_id] == D("1046484.56")

        # the drill: base backup + archived WAL, up to the restore point, in a new cluster
        restored = PrivatePostgres(bindir, directory=work / "restored")
        primary.command("cp", "-a", str(base), str(restored.data))
        (restored.data / "recovery.signal").touch()
        restored.own(restored.data / "recovery.signal")
        _append_conf(
            restored,
            {
                "restore_command": f"cp {archive}/%f %p",
                "recovery_target_name": "drill",
                "recovery_target_action": "promote",
                "archive_mode": "off",  # the restored copy must not write into the archive
            },
        )
        t_restore = time.monotonic()
        restored.pg_ctl_start()
        _wait(
            lambda: restored.psql(DATABASE, "SELECT pg_is_in_recovery()") == "f",
            60,
            "the restored cluster to reach the restore point and promote",
        )
        restore_seconds = time.monotonic() - t_restore
        log = restored.log.read_text()
        assert 'recovery stopping at restore point "drill"' in log, log

        with django_on(restored.port, DATABASE):
            after = ledger_state()
            balances = dict(AccountBalance.objects.values_list("account_id", "balance"))
            memos = set(JournalEntry.objects.values_list("memo", flat=True))
            tb = trial_balance()

        # then: exactly the ledger of the restore point
        assert after == at_point
        assert balances == balances_at_point
        assert memos == {"capital", "fee-1", "capital-2", "fee-2", "capital-3"}
        assert "after-the-point" not in memos
        assert tb.balanced, tb.totals
        # every running balance equals its postings' sum
        assert {k: v for k, v in balances.items() if v} == {
            k: v for k, v in after["accounts"].items() if v
        }
        report(
            f"restore drill: base backup after 3 entries + WAL to restore point 'drill' -> "
            f"{after['entries']} entries / {after['postings']} postings restored (2 from WAL, "
            f"the entry after the point absent), trial balance zero; recovery and promotion "
            f"{restore_seconds:.1f} s, migrate {t_migrated - t0:.1f} s, "
            f"total {time.monotonic() - t0:.1f} s"
        )
    finally:
        if restored is not None:
            restored.stop()
        primary.stop()
