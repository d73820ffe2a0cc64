"""PostgreSQL one-dimensional arrays as numpy arrays, both ways, in PostgreSQL's binary format.

Bulk reads of the margin engine (lending.mtm.book_arrays, the mark-to-market snapshots) move whole
columns: a query's rows come back as one row of arrays (``SELECT array_agg(c0), array_agg(c1)
... FROM (query)``) and numpy reads each array's bytes as a typed column; snapshots are written
as arrays by binary COPY. No Python object per value and nothing parsed from text. Arrays here
never hold NULL (coalesce in SQL; a ratio without debt is +Infinity).

Binary array layout: int32 ndim, int32 has-nulls flag, int32 element type oid, then per
dimension int32 length and int32 lower bound, then per element int32 byte length and the value
(big-endian).
"""

from __future__ import annotations

import struct

import numpy as np
from django.db import connection
from psycopg import Cursor, sql
from psycopg.adapt import Loader
from psycopg.pq import Format

#: numpy type → (PostgreSQL element type, element oid, array oid, big-endian numpy type)
TYPES = {
    np.int64: ("int8", 20, 1016, ">i8"),
    np.int32: ("int4", 23, 1007, ">i4"),
    np.int16: ("int2", 21, 1005, ">i2"),
    np.float64: ("float8", 701, 1022, ">f8"),
}


_ARRAY_OIDS = tuple(array_oid for _name, _oid, array_oid, _big in TYPES.values())


class _RawArray(Loader):
    """Hands a binary array value over as bytes (decoded by `decode`)."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


def decode(data: bytes | None, kind: type) -> np.ndarray:
    """A one-dimensional binary array without NULLs as a native numpy array of ``kind``."""
    big = TYPES[kind][3]
    if data is None:  # array_agg over no rows
        return np.zeros(0, dtype=kind)
    ndim, has_nulls = struct.unpack_from(">ii", data, 0)
    if ndim == 0:
        return np.zeros(0, dtype=kind)
    if ndim != 1 or has_nulls:
        raise RuntimeError("array read: NULLs or a nested array")
    (count,) = struct.unpack_from(">i", data, 12)
    cells = np.frombuffer(data, dtype=[("len", ">i4"), ("v", big)], count=count, offset=20)
    if count and not (cells["len"] == np.dtype(big).itemsize).all():
        raise RuntimeError("array read: unexpected element size")
    return cells["v"].astype(kind)


def encode(values: np.ndarray, kind: type) -> bytes:
    """``values`` as a binary one-dimensional array of ``kind`` (a COPY binary field's data)."""
    _name, element_oid, _array_oid, big = TYPES[kind]
    n = int(values.shape[0])
    size = np.dtype(big).itemsize
    cells = np.empty(n, dtype=[("len", ">i4"), ("v", big)])
    cells["len"] = size
    cells["v"] = values
    return struct.pack(">iiiii", 1, 0, element_oid, n, 1) + cells.tobytes()


def columns(query: sql.Composable, types: tuple) -> list[np.ndarray]:
    """The columns of ``query`` (no NULLs) as numpy arrays of ``types`` (np.int64 / int32 /
    int16 / float64), in one round trip as one row of arrays. The aggregates read the same input
    in the same order, so the arrays stay aligned row by row."""
    names = [sql.Identifier(f"c{i}") for i in range(len(types))]
    statement = sql.SQL("SELECT {aggs} FROM ({query}) AS q ({names})").format(
        aggs=sql.SQL(", ").join(
            sql.SQL("array_agg({}::{})").format(name, sql.SQL(TYPES[t][0]))
            for name, t in zip(names, types, strict=True)
        ),
        query=query,
        names=sql.SQL(", ").join(names),
    )
    return [decode(value, t) for value, t in zip(fetch_row(statement), types, strict=True)]


def fetch_row(statement: sql.Composable, params=None) -> tuple:
    """One row of ``statement`` in binary, its arrays as raw bytes (see `decode`); () if none."""
    rows = fetch_all(statement, params)
    return rows[0] if rows else ()


def fetch_all(statement: sql.Composable, params=None) -> list[tuple]:
    """Every row of ``statement`` in binary, arrays as raw bytes (see `decode`). Runs on
    Django's connection, inside its transaction state."""
    connection.ensure_connection()
    raw = connection.connection
    with Cursor(raw) as cursor:  # server-side binding: Django's client cursors cannot do binary
        for oid in _ARRAY_OIDS:
            cursor.adapters.register_loader(oid, _RawArray)
        cursor.execute(statement, params, binary=True)
        return cursor.fetchall()
