"""The one way tests and benchmarks reach the sample messages in ``tests/data/`` (provenance of
every file: tests/data/README.md).

Paths are relative to ``tests/data`` (``"ws/..."``, ``"docs-examples/..."``, ``"rest/..."``,
``"fixtures-synthetic/..."``). Everything here is plain functions so that module-level
parametrize lists can use it at import time; the ``samples`` fixture in tests/conftest.py hands
out the same functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"


def path(rel: str) -> Path:
    """The file's path; a missing sample is an error here, not a silently empty test."""
    p = DATA_DIR / rel
    if not p.is_file():
        raise FileNotFoundError(f"no sample tests/data/{rel}")
    return p


def paths(subdir: str, pattern: str = "*.json*") -> list[Path]:
    """The samples of one directory matching ``pattern``, sorted (stable parametrize order)."""
    found = sorted((DATA_DIR / subdir).glob(pattern))
    if not found:
        raise FileNotFoundError(f"no sample tests/data/{subdir}/{pattern}")
    return found


def read_bytes(rel: str) -> bytes:
    return path(rel).read_bytes()


def frames(rel: str | Path) -> list[bytes]:
    """The messages of a sample exactly as they arrive on the wire: one per non-blank line of a
    ``.jsonl`` file, the whole (pretty-printed) text of a ``.json`` file."""
    p = rel if isinstance(rel, Path) else path(rel)
    data = p.read_bytes()
    if p.suffix == ".jsonl":
        return [line for line in data.splitlines() if line.strip()]
    return [data]


def load_json(rel: str) -> Any:
    """A ``.json`` sample (or a one-line ``.jsonl`` one), parsed."""
    return json.loads(path(rel).read_bytes())


def load_jsonl(rel: str) -> list[Any]:
    """Every message of a sample, parsed (see ``frames``)."""
    return [json.loads(f) for f in frames(rel)]


class Samples:
    """What the ``samples`` fixture returns: this module's functions as attributes."""

    root = DATA_DIR
    path = staticmethod(path)
    paths = staticmethod(paths)
    read_bytes = staticmethod(read_bytes)
    frames = staticmethod(frames)
    load_json = staticmethod(load_json)
    load_jsonl = staticmethod(load_jsonl)
