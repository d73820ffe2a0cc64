"""A Celery worker whose mark-to-market shards pause after storing their snapshots, before
applying their state changes: the window in which tests/integration/test_mtm_workers.py kills
a worker (SIGKILL) and tests/faults/test_postgres_restart.py restarts PostgreSQL mid-shard.

Production code has no such hook. A test starts this module in place of `python -m celery`
(tools/worker_processes.start(..., module=MODULE), same arguments) with PAUSE_ENV (seconds) in
the worker's environment; in that process only, lending.mtm.services._snapshots_store (the
shard's step 2, right before step 3 applies the state changes) is wrapped to sleep after it
returns. Each pause is logged (PAUSE_LOG) to the worker's output, for the tests to check."""

import functools
import os
import sys
import time

MODULE = "tests.support.paused_worker"  # python -m MODULE
PAUSE_ENV = "MARGINDESK_TEST_MTM_SHARD_PAUSE"
PAUSE_LOG = "paused worker: snapshots stored, pausing"


def pause_after_snapshots(seconds: float) -> None:
    """Make every shard this process runs sleep `seconds` once its snapshots are stored."""
    from lending.mtm import services

    store = services._snapshots_store

    @functools.wraps(store)
    def store_then_pause(run_id, shard, *args, **kwargs):
        result = store(run_id, shard, *args, **kwargs)
        print(f"{PAUSE_LOG} {seconds:g}s: run {run_id} shard {shard}", file=sys.stderr, flush=True)
        time.sleep(seconds)
        return result

    services._snapshots_store = store_then_pause


def main() -> None:
    seconds = float(os.environ.get(PAUSE_ENV) or 0)
    if seconds > 0:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        pause_after_snapshots(seconds)
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
