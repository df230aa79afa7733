"""The sample messages in tests/data: each one parses, and each one's source is written down."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._data import DATA_DIR, Samples

FILES = sorted(p for p in DATA_DIR.rglob("*") if p.is_file() and p.name != "README.md")
README = (DATA_DIR / "README.md").read_text()


def _listed(name: str) -> bool:
    """Named in the README, alone or in a group such as ``prefix_{a,b,c}.json``."""
    if f"`{name}`" in README:
        return True
    for m in re.finditer(r"`([\w.-]*)\{([\w,]+)\}([\w.-]*)`", README):
        if name in (f"{m.group(1)}{alt}{m.group(3)}" for alt in m.group(2).split(",")):
            return True
    return False


def test_every_directory_has_samples() -> None:
    dirs = {p.relative_to(DATA_DIR).parts[0] for p in FILES}
    assert dirs == {"ws", "rest", "docs-examples", "fixtures-synthetic"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA_DIR)))
def test_sample_parses_and_its_source_is_written_down(path: Path, samples: type[Samples]) -> None:
    rel = str(path.relative_to(DATA_DIR))
    messages = samples.load_jsonl(rel)
    assert messages and all(isinstance(m, (dict, list)) for m in messages)
    if path.suffix == ".json":
        assert messages == [samples.load_json(rel)]
    assert _listed(path.name), f"{rel} has no entry in tests/data/README.md"


def test_missing_sample_is_an_error(samples: type[Samples]) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("tests/data/ws/nope.json")):
        samples.path("ws/nope.json")
