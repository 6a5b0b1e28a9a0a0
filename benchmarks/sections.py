"""A benchmark's section of docs/benchmarks.md: the text between its two markers replaced, or
added at the end under its heading the first time."""

from __future__ import annotations

from pathlib import Path


def write_section(md: Path, start: str, end: str, block: str, heading: str | None = None) -> None:
    """Put `block` (which begins with `start` and ends with `end`) in place of the old one in `md`,
    or at its end (under `## heading`, when given) when there is none yet."""
    text = md.read_text() if md.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + (f"## {heading}\n\n" if heading else "") + block + "\n"
    md.write_text(text)
