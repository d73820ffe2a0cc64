"""Reads of the mark-to-market snapshots (lending.models.MtmSnapshot: per run and shard, one array
per figure), as numpy columns or one account's figures. Selectors only: runs write them
(lending.mtm.services)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.db import connection
from psycopg import sql

from lending.domain.margin import STATE_BY_CODE
from lending.mtm import pg_arrays
from lending.mtm.book_arrays import STORED_STATES

_FIGURES = (
    ("accounts", np.int64),
    ("ratios", np.float64),
    ("assets", np.float64),
    ("liabilities", np.float64),
    ("states", np.int16),
    ("stored_states", np.int16),
)


@dataclass(frozen=True)
class Figures:
    """Aligned columns: ``accounts[i]`` has ``ratios[i]`` (+inf: no debt), ``assets[i]``..."""

    run_ids: np.ndarray  # int64: the run of each account's figures
    accounts: np.ndarray
    ratios: np.ndarray
    assets: np.ndarray
    liabilities: np.ndarray
    states: np.ndarray
    stored_states: np.ndarray

    def __len__(self) -> int:
        return int(self.accounts.shape[0])


@dataclass(frozen=True)
class AccountFigures:
    ratio: float | None  # None: no debt
    assets: float
    liabilities: float
    state: int  # lending.domain.margin state code, as screened
    stored_state: int  # lending.mtm.book_arrays.STORED_STATES code, before the run


def figures(run_ids: list[int], credit_account_ids: list[int] | None = None) -> Figures:
    """The figures of runs, every account or only ``credit_account_ids`` (then only the shards
    whose pk range holds one of them are read)."""
    where = sql.SQL("s.run_id = ANY(%(runs)s)")
    params: dict = {"runs": [int(r) for r in run_ids]}
    if credit_account_ids is not None:
        params["ids"] = sorted(int(i) for i in credit_account_ids)
        where += sql.SQL(
            " AND EXISTS (SELECT 1 FROM lending_mtmshard h WHERE h.run_id = s.run_id "
            "AND h.shard = s.shard AND EXISTS (SELECT 1 FROM unnest(%(ids)s::bigint[]) AS u(id) "
            "WHERE u.id >= h.id_from AND u.id < h.id_to))"
        )
    statement = sql.SQL(
        "SELECT s.run_id, {cols} FROM lending_mtmsnapshot s WHERE {where} "
        "ORDER BY s.run_id, s.shard"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier("s", name) for name, _t in _FIGURES),
        where=where,
    )
    parts: dict[str, list[np.ndarray]] = {name: [] for name, _t in _FIGURES}
    runs: list[np.ndarray] = []
    for row in pg_arrays.fetch_all(statement, params):
        pairs = zip(row[1:], _FIGURES, strict=True)
        decoded = [pg_arrays.decode(value, kind) for value, (_name, kind) in pairs]
        for (name, _t), column in zip(_FIGURES, decoded, strict=True):
            parts[name].append(column)
        runs.append(np.full(decoded[0].shape[0], int(row[0]), dtype=np.int64))
    columns = {
        name: np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=t)
        for name, t in _FIGURES
    }
    run_column = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
    if credit_account_ids is not None:
        keep = np.isin(columns["accounts"], np.asarray(params["ids"], dtype=np.int64))
        columns = {name: column[keep] for name, column in columns.items()}
        run_column = run_column[keep]
    return Figures(run_ids=run_column, **columns)


def account_figures(run_id: int, credit_account_id: int) -> AccountFigures | None:
    """One account's figures in one run (None when the run did not value it)."""
    found = figures([run_id], [credit_account_id])
    if not len(found):
        return None
    ratio = float(found.ratios[0])
    return AccountFigures(
        ratio=None if np.isinf(ratio) else ratio,
        assets=float(found.assets[0]),
        liabilities=float(found.liabilities[0]),
        state=int(found.states[0]),
        stored_state=int(found.stored_states[0]),
    )


def accounts_valued(run_id: int) -> int:
    """How many accounts a run's snapshots hold (the arrays' lengths, summed in SQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(cardinality(accounts)), 0) FROM lending_mtmsnapshot "
            "WHERE run_id = %s",
            [run_id],
        )
        return int(cursor.fetchone()[0])


#: Columns of a run's figures as CSV (figures_csv): the ratio is a fraction (1.5 = 150%), empty
#: for an account without debt; money in CNY to the cent.
CSV_COLUMNS = (
    "run",
    "credit_account",
    "maintenance_ratio",
    "total_assets",
    "total_liabilities",
    "screened_state",
    "stored_state_before",
)


def figures_csv(run_id: int, *, rows_per_chunk: int = 50_000) -> Iterator[str]:
    """Every account a run valued, by credit account, as CSV text in chunks (the header first):
    what the run computed, for an auditor to recompute or compare with the ledger."""
    found = figures([run_id])
    order = np.argsort(found.accounts, kind="stable")
    screened = np.array([state.value for state in STATE_BY_CODE], dtype=object)
    stored = np.array(STORED_STATES, dtype=object)
    yield ",".join(CSV_COLUMNS) + "\n"
    for start in range(0, len(found), rows_per_chunk):
        at = order[start : start + rows_per_chunk]
        ratios = found.ratios[at]
        lines = [
            f"{run_id},{account},{'' if np.isinf(ratio) else f'{ratio:.6f}'},{assets:.2f},"
            f"{liabilities:.2f},{state},{before}\n"
            for account, ratio, assets, liabilities, state, before in zip(
                found.accounts[at].tolist(),
                ratios.tolist(),
                found.assets[at].tolist(),
                found.liabilities[at].tolist(),
                screened[found.states[at].astype(np.int64)].tolist(),
                stored[found.stored_states[at].astype(np.int64)].tolist(),
                strict=True,
            )
        ]
        yield "".join(lines)
