"""Shared by the benchmark scripts: each owns one section of BENCHMARKS.md and rewrites only that."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the section that starts at `heading` (up to the next '## '), or append it."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(heading)
    if start < 0:
        new = old.rstrip() + "\n\n" + text + "\n"
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text + "\n" + (old[end:] if end >= 0 else "")
    path.write_text(new)


def publish(lines: list[str]) -> None:
    """Write a section (its heading is lines[0]) to BENCHMARKS.md and print it."""
    write_section(BENCHMARKS, lines[0], "\n".join(lines))
    print("\n".join(lines))
