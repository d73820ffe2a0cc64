"""Canonical serialisation of a filing's data snapshot, with no Django imports.

The data hash is the SHA-256 of the canonical JSON bytes, so the rules are fixed here once:
sorted keys, no insignificant whitespace, UTF-8, Decimal as its string, dates and datetimes
in ISO 8601 (datetimes converted to UTC), and no floats at all (a float in a snapshot is a
bug: money is Decimal, ratios are Decimal strings). The CSV is the same data flattened to
one (path, value) row per leaf, in the same order, so it hashes just as reproducibly.
"""

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


class FloatInSnapshot(TypeError):
    pass


def normalise(value: Any) -> Any:
    """Turn a snapshot into plain JSON types (str, int, bool, None, list, dict)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        raise FloatInSnapshot(f"floats are not allowed in a snapshot (got {value!r})")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal in a snapshot: {value!r}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime in a snapshot: {value!r}")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"snapshot keys are strings, got {key!r}")
            out[key] = normalise(item)
        return out
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    raise TypeError(f"cannot put {type(value).__name__} in a snapshot: {value!r}")


def to_json_bytes(snapshot: dict) -> bytes:
    return json.dumps(
        normalise(snapshot), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_hash(snapshot: dict) -> str:
    return sha256_hex(to_json_bytes(snapshot))


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Leaves as (path, text) in sorted-key order: {"a": [{"b": 1}]} -> [("a[0].b", "1")]."""
    rows: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if not value:
            rows.append((prefix, "{}"))
        for key in sorted(value):
            rows.extend(flatten(value[key], f"{prefix}.{key}" if prefix else key))
    elif isinstance(value, list):
        if not value:
            rows.append((prefix, "[]"))
        for index, item in enumerate(value):
            rows.extend(flatten(item, f"{prefix}[{index}]"))
    elif value is None:
        rows.append((prefix, ""))
    elif isinstance(value, bool):
        rows.append((prefix, "true" if value else "false"))
    else:
        rows.append((prefix, str(value)))
    return rows


def to_csv_bytes(snapshot: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "value"])
    writer.writerows(flatten(normalise(snapshot)))
    return buffer.getvalue().encode("utf-8")
