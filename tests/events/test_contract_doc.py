"""docs/events.md's contract table against the payload builders, so that the doc cannot drift.

For every event type: the builders' key set is exactly the table's column (plus ``seq``, which
the publisher stamps), every value has one of the JSON types the table gives, and every type
the table allows is actually produced by some order (so an ``or null`` cannot go stale).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from trading_engine_python.events import payloads

from ._orders import SAMPLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
ABSENT = "—"
JSON_TYPES = {"integer", "number", "string", "boolean", "null", "object"}


def parse_contract(text: str) -> dict[str, dict[str, set[str]]]:
    """{event type: {key: {json types}}} from the table whose header starts with ``| key |``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\|\s*key\s*\|", line))
    header = [c.strip() for c in lines[start].strip().strip("|").split("|")]
    channels = header[1:-1]  # last column is "meaning"
    events = []
    for cell in channels:
        m = re.fullmatch(r"`pms:events:(\w+)`", cell)
        assert m, f"header cell {cell!r} is not a channel name"
        events.append(m.group(1))
    contract: dict[str, dict[str, set[str]]] = {e: {} for e in events}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key = cells[0].strip("`")
        for event, cell in zip(events, cells[1:1 + len(events)], strict=True):
            if cell == ABSENT:
                continue
            types = {t.strip() for t in cell.split(" or ")}
            assert types <= JSON_TYPES, f"{key}/{event}: unknown JSON type in {cell!r}"
            contract[event][key] = types
    return contract


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    raise AssertionError(f"not a JSON value: {value!r}")


CONTRACT = parse_contract(DOC.read_text(encoding="utf-8"))


def test_table_covers_exactly_the_order_event_types() -> None:
    assert tuple(CONTRACT) == payloads.ORDER_EVENT_TYPES
    assert payloads.CHANNEL_PREFIX == "pms:events:"


@pytest.mark.parametrize("event", payloads.ORDER_EVENT_TYPES)
def test_builder_matches_table(event: str) -> None:
    build = getattr(payloads, event)
    seen: dict[str, set[str]] = {}
    for order, extra in SAMPLES[event]:
        built = build(order, 1740547200000, **extra)
        assert "seq" in CONTRACT[event] and "seq" not in built
        # What the subscriber parses, with the seq the publisher adds.
        wire = orjson.loads(orjson.dumps({**built, "seq": 1}))
        assert set(wire) == set(CONTRACT[event]), f"{event}: keys differ from docs/events.md"
        for key, value in wire.items():
            t = json_type(value)
            doc = CONTRACT[event][key]
            assert t in doc, f"{event}.{key} = {value!r} is {t}, doc says {doc}"
            seen.setdefault(key, set()).add(t)
    for key, types in CONTRACT[event].items():
        assert seen[key] == types, f"{event}.{key}: doc allows {types}, samples produced {seen[key]}"


def test_parser_rejects_a_drifted_table() -> None:
    # The check above can fail: a table missing a key, or with a wrong type, parses differently.
    text = DOC.read_text(encoding="utf-8")
    drifted = parse_contract(
        text.replace("| `avgPrice` | — | — | number |", "| `avgPrice` | — | — | string |"))
    assert drifted["order_partially_filled"]["avgPrice"] == {"string"}
    dropped = parse_contract(re.sub(r"^\| `account` .*\n", "", text, flags=re.M))
    assert "account" not in dropped["order_filled"]
