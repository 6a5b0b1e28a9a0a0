"""Names users give to datasets and model versions: they become folder names, so they are checked."""

from __future__ import annotations

import re

from routing_core.platform.errors import UserError

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Device names Windows refuses as file names, with or without an extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def check_name(name: str, what: str = "name") -> str:
    """Return `name` if it is a safe label (`[A-Za-z0-9._-]{1,64}`, no leading dot), else raise UserError."""
    if not isinstance(name, str) or not name:
        raise UserError(f"The {what} is empty: use 1 to 64 letters, digits, '.', '_' or '-'.")
    shown = name if len(name) <= 40 else name[:40] + "…"
    shown = shown.encode("unicode_escape").decode("ascii")
    if len(name) > 64:
        raise UserError(f"The {what} '{shown}' is too long ({len(name)} characters, at most 64).")
    if not _NAME_RE.fullmatch(name):
        raise UserError(
            f"The {what} '{shown}' is not allowed: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no paths, no spaces)."
        )
    if name.split(".")[0].upper() in _RESERVED:
        raise UserError(f"The {what} '{shown}' is a reserved device name on Windows; choose another.")
    return name


def suggest_name(file_name: str, default: str = "dataset") -> str:
    """A safe label derived from a file name ("Plant A routings (2024).csv" -> "Plant_A_routings_2024")."""
    stem = str(file_name).replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:64].rstrip("._-")
    if not label or label.split(".")[0].upper() in _RESERVED:
        return default
    return label
