"""The two tables a dataset passes through: a file as read (RawTable) and the canonical
operations table (Dataset), with the file's sha256 computed only when first asked for."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from routing_core.datasets.profiling import item_index
from routing_core.mapping.schema import ITEM


class _Digest:
    """The sha256 of some bytes (or of blocks of them, in order), computed once, when first asked for."""

    __slots__ = ("_data", "_hex")

    def __init__(self, data: bytes | list[bytes]) -> None:
        self._data: list[bytes] | None = [data] if isinstance(data, bytes) else data
        self._hex = ""

    def hexdigest(self) -> str:
        blocks = self._data  # read once: another thread may finish first and drop them
        if blocks is not None:
            digest = hashlib.sha256()
            for block in blocks:
                digest.update(block)
            self._hex, self._data = digest.hexdigest(), None
        return self._hex


class LazySha256:
    """A dataclass field holding a sha256 hex digest, or the bytes to hash when it is first read.

    Hashing a large file keeps a core busy for a while, and only saving a dataset needs it.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> str:
        if obj is None:
            return ""  # the dataclass default
        value = obj.__dict__.get(self.slot, "")
        return value if isinstance(value, str) else value.hexdigest()

    def __set__(self, obj: object, value: str | bytes | list[bytes] | _Digest) -> None:
        obj.__dict__[self.slot] = _Digest(value) if isinstance(value, bytes | list) else value


class LazyBytes:
    """A dataclass field of bytes that may be given as blocks, joined when first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> bytes:
        if obj is None:
            return b""  # the dataclass default
        value = obj.__dict__.get(self.slot, b"")
        if isinstance(value, list):
            joined = b"".join(value)
            value[:] = [joined]  # whoever shares the blocks (a digest to come) shares the join
            value = obj.__dict__[self.slot] = joined
        return value

    def __set__(self, obj: object, value: bytes | list[bytes]) -> None:
        # field(default=LazyBytes()) hands the descriptor itself to __init__ as the default
        obj.__dict__[self.slot] = b"" if isinstance(value, LazyBytes) else value


def pending_sha256(obj: object) -> str | _Digest:
    """A LazySha256 field's value as held (a digest not computed yet stays so), to hand on."""
    return vars(obj).get("_sha256", "")


@dataclass
class RawTable:
    """A file as read: every column, plus how it was read."""

    frame: pd.DataFrame
    encoding: str
    delimiter: str | None  # None for Parquet
    sha256: str = LazySha256()  # of the file's bytes as given (pass the bytes: hashed when read)
    source_name: str = "upload"
    # the text as parsed (BOM and leading blanks removed); blocks given are joined when first read
    data: bytes = field(default=LazyBytes(), repr=False)
    notes: list[str] = field(default_factory=list)  # what reading it found (bad bytes replaced)


@dataclass
class Dataset:
    """An operations table in canonical form, with what was learned while reading it."""

    ops: pd.DataFrame
    mapping: dict[str, str]
    item_attributes: list[str]
    operation_attributes: list[str]
    warnings: list[str] = field(default_factory=list)
    source_name: str = "upload"
    sha256: str = LazySha256()  # of the file read (given as its bytes, it is hashed when first read)
    encoding: str = "utf-8"
    delimiter: str | None = ","
    inconsistent_items: dict[str, int] = field(default_factory=dict)  # item attribute -> items disagreeing
    source: dict = field(default_factory=dict)  # where a database read came from (routing_core.database)
    _item_numbers: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_items(self) -> int:
        return int(self.ops[ITEM].nunique())

    def item_numbers(self) -> np.ndarray:
        """item_index() of ops, computed once (ops is not changed once made)."""
        if self._item_numbers is None or len(self._item_numbers) != len(self.ops):
            self._item_numbers = item_index(self.ops)
        return self._item_numbers

    def knowing_item_numbers(self, numbers: np.ndarray) -> Dataset:
        """This dataset with item_numbers() already known (computed while it was made); returns self."""
        self._item_numbers = numbers
        return self
