"""Tables derived from the same items, kept for one fit or one prediction only.

A fit (or a prediction) reads the same items several times, and deriving their columns (text,
code tokens) is slow on big data. Inside `remembering()` the featurizer keeps what it derived, per
thread; when the block ends, nothing of it stays, so a model shared by every session keeps no
session's items and two threads never share a table."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

_SCOPE = threading.local()  # this thread's tables derived inside remembering(), else None
F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """A block (one fit, one prediction) within which a featurizer derives the columns of the same
    items once; when it ends, nothing of those tables stays on the model (a model shared by every
    session keeps no session's items) and each thread has its own."""
    outer = getattr(_SCOPE, "memo", None)
    if outer is None:
        _SCOPE.memo = {}
    try:
        yield
    finally:
        if outer is None:
            _SCOPE.memo = None


def remembered(method: F) -> F:
    """`method` run inside `remembering()`."""

    @functools.wraps(method)
    def run(*args, **kwargs):
        with remembering():
            return method(*args, **kwargs)

    return run  # type: ignore[return-value]


def thread_memo() -> dict | None:
    """This thread's memo ({id(featurizer): (featurizer, entries)}) inside `remembering()`, else None."""
    return getattr(_SCOPE, "memo", None)
