"""The repository stands on its own: no file points outside it, and every protocol citation resolves.

1. No tracked file names a path outside the repository, a private citation key or an issue
   number: the material those pointed to is not shipped, so a reader could not follow them.
   Protocol facts are cited as ``docs/binance-protocol.md, "<Section>"`` instead.
2. Every section cited that way exists as a ``##`` heading of docs/binance-protocol.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_DOC = ROOT / "docs" / "binance-protocol.md"
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Built from pieces so that this file does not match its own patterns when someone greps the tree.
FORBIDDEN = re.compile(
    "|".join(
        (
            r"\.\./" + "shared",
            "shared/" + "(spec|binance)",
            r"\[" + "D:",
            "issue" + " [0-9]",
            "/" + "work/",
        )
    )
)
CITATION = re.compile(r"docs/binance-protocol\.md,\s*(?:#\s*)?\"([^\"\n]+)\"")
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache",
             ".pytest_cache", ".hypothesis", "node_modules"}
SKIP_FILES = {SELF, ".gitignore"}


def _files() -> list[str]:
    """Tracked files (relative posix paths) in a git checkout, else every file of the tree."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        proc = subprocess.run(
            [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False
        )
        if proc.returncode == 0:
            return [p for p in proc.stdout.decode().split("\0") if p]
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            out.append((Path(dirpath) / name).relative_to(ROOT).as_posix())
    return out


def _texts() -> list[tuple[str, list[str]]]:
    """(path, lines) of every text file to check; binary files (a NUL byte) are skipped."""
    out = []
    for rel in _files():
        if rel in SKIP_FILES:
            continue
        path = ROOT / rel
        if not path.is_file():  # deleted in the work tree but still tracked
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        out.append((rel, data.decode("utf-8", errors="replace").splitlines()))
    return out


def _headings() -> set[str]:
    return {
        line[3:].strip()
        for line in PROTOCOL_DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }


def test_no_reference_outside_the_repository() -> None:
    offending = [
        f"{rel}:{n}: {line.strip()}"
        for rel, lines in _texts()
        for n, line in enumerate(lines, 1)
        if FORBIDDEN.search(line)
    ]
    assert not offending, (
        f"{len(offending)} line(s) point outside the repository (cite docs/binance-protocol.md, "
        '"<Section>" instead):\n' + "\n".join(offending)
    )


def test_cited_protocol_sections_exist() -> None:
    headings = _headings()
    missing = []
    for rel, lines in _texts():
        # Join continuation lines so a citation wrapped after the comma is still seen.
        text = "\n".join(lines)
        for m in CITATION.finditer(text):
            if m.group(1) not in headings and not m.group(1).startswith("<"):  # "<Section>" = placeholder
                n = text.count("\n", 0, m.start()) + 1
                missing.append(f"{rel}:{n}: {m.group(0)}")
    assert not missing, (
        "cited sections that are not a '## ' heading of docs/binance-protocol.md "
        f"({sorted(headings)}):\n" + "\n".join(missing)
    )


def test_the_checks_can_fail() -> None:
    # Guards against a pattern edit that silently matches nothing.
    assert FORBIDDEN.search("see ../" + "shared" + "/" + "spec/x.md")
    assert FORBIDDEN.search("[" + "D:general-info]")
    assert FORBIDDEN.search("as issue" + " 7 says")
    assert FORBIDDEN.search("/" + "work/main")
    assert not FORBIDDEN.search('docs/binance-protocol.md, "Error codes"')
    m = CITATION.search('x (docs/binance-protocol.md, "No such section") y')
    assert m is not None and m.group(1) not in _headings()
    assert {"Order update event", "Pitfalls"} <= _headings()
