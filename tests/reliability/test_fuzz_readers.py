"""Property-based: broken files end in UserError or a valid dataset, never another exception,
and never change what is already stored."""

from __future__ import annotations

import codecs
import io
import itertools
import json
import os
import random

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.datasets.stats import compute_stats
from routing_core.mapping.schema import ITEM, PROCESS
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN, FABRICAD, FABRICAD_MAP

GOOD = (
    "item_code,seq,process_code,duration_min,material,work_center\n"
    + "".join(
        f"{i:05d},{s},{p},{1.5 * s},{'steel' if i % 2 else 'alu'},WC{s}\n"
        for i in range(12)
        for s, p in enumerate(["SAW", "MILL", "INSPECT"], start=1)
    )
)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))

cell_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", '"', '""', "\x00", "\ufeff", "NaN", "1e309", "-0", "  "]),
    st.text(alphabet="0123456789.,-e", max_size=8),
)


@st.composite
def broken_files(draw) -> bytes:
    """A routing export broken in one or more of the ways real exports are."""
    rows = [line.split(",") for line in GOOD.splitlines()]
    ops = draw(
        st.lists(
            st.sampled_from(
                ["truncate", "delimiter", "nul", "bytes", "ragged", "huge", "formula", "dup_header", "cell", "encoding", "drop_header", "quotes"]
            ),
            min_size=1,
            max_size=4,
        )
    )
    delim = ","
    encoding = "utf-8"
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for op in ops:
        if op == "delimiter":
            delim = draw(st.sampled_from([";", "\t", "|", " ", ":", ",,"]))
        elif op == "ragged":
            r = rnd.randrange(len(rows))
            rows[r] = rows[r][: rnd.randrange(len(rows[r]) + 1)] + (["x"] * rnd.randrange(3))
        elif op == "huge":
            r = rnd.randrange(1, len(rows))
            rows[r][rnd.randrange(len(rows[r]))] = "y" * draw(st.integers(1, 200_000))
        elif op == "formula" or op == "cell":
            r = rnd.randrange(len(rows))
            c = rnd.randrange(len(rows[r])) if rows[r] else 0
            if rows[r]:
                rows[r][c] = draw(cell_text)
        elif op == "dup_header":
            rows[0][rnd.randrange(1, len(rows[0]))] = rows[0][0]
        elif op == "drop_header":
            rows = rows[1:] or rows
        elif op == "quotes":
            r = rnd.randrange(len(rows))
            if rows[r]:
                rows[r][0] = '"' + rows[r][0]
        elif op == "encoding":
            encoding = draw(st.sampled_from(["utf-16", "utf-8-sig", "cp949", "latin-1", "utf-32", "shift_jis"]))
    text = "\n".join(delim.join(r) for r in rows) + "\n"
    data = text.encode(encoding, errors="replace")
    for op in ops:
        if op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "nul":
            pos = draw(st.integers(0, len(data)))
            data = data[:pos] + b"\x00" + data[pos:]
        elif op == "bytes":
            pos = draw(st.integers(0, len(data)))
            data = data[:pos] + draw(st.binary(min_size=1, max_size=64)) + data[pos:]
    return data


def _check(data: bytes) -> str:
    try:
        ds = load_dataset(io.BytesIO(data), name="fuzz.csv")
    except UserError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip() and "Traceback" not in message
        return "refused with UserError"
    # a valid result must honour the contract
    assert len(ds.ops) > 0
    assert ds.ops[ITEM].notna().all() and ds.ops[PROCESS].notna().all()
    assert (ds.ops["duration_min"].dropna() >= 0).all()
    stats = compute_stats(ds)
    assert stats["unique_items"] == ds.ops[ITEM].nunique()
    return "read as a valid dataset"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz-home")
    store = DatasetStore(home)
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    return store, home, itertools.count()


def _snapshot(home) -> dict[str, bytes]:
    """Path -> content of every stored file (the store is a few small files)."""
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=broken_files())
def test_broken_files_end_in_user_error_or_valid_dataset(data, stored):
    store, home, counter = stored
    event(_check(data))
    # Saved under a name no dataset has: a refusal comes from the file, never from the name.
    name = f"fuzz-{next(counter)}"
    before = _snapshot(home)
    try:
        dataset = load_dataset(io.BytesIO(data), name="fuzz.csv")
        record, created = store.save(name, dataset, user=ADMIN)
    except UserError:
        event("refused: nothing stored changed")
        assert _snapshot(home) == before
        return
    after = _snapshot(home)
    log = "activity.jsonl"
    # The mappings remembered by header (mapping_memory, tested on its own) learn each saved file's.
    diary = {log, "mappings.json", ".mappings.lock"}
    # Every file stored before is byte-identical; the activity log only grew at its end.
    assert {k: after.get(k) for k in before if k not in diary} == {k: v for k, v in before.items() if k not in diary}
    assert after.get(log, b"").startswith(before.get(log, b""))
    if created:
        event("stored under a new name")
        assert {k for k in after if k not in before and k not in diary} and all(
            k.startswith(f"datasets/{name}/") for k in after if k not in before and k not in diary)
        assert store.load(name).ops.reset_index(drop=True).equals(dataset.ops.reset_index(drop=True))
        assert json.loads(after[log].splitlines()[-1])["object"] == name
    else:  # the same content as a dataset stored earlier: that dataset, nothing new
        event("the same content as a stored dataset")
        assert record.name != name and after == before


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=4096))
def test_random_bytes(data):
    event(_check(data))


@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, codecs.BOM_UTF32_LE])
def test_utf16_and_utf32_exports_are_refused_or_read(bom):
    _check(bom + GOOD.encode("utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-32-le"))
