"""Memory of a training (docs/design.md, 'Training budget'): measuring what a fit holds at its peak, and the training
worker's limit on its own memory (`limit_memory`, TRAIN_MEMORY_GB in `routing_core.platform.limits`): a
job that hits it fails with "ran out of the memory limit (N GB)", and a dry run warns when its
estimated peak would pass it."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

import psutil

from routing_core.platform.limits import TRAIN_MEMORY_GB, gb_text


def memory_warning(peak_gb: float, limit_gb: float) -> str | None:
    """What a plan says when its estimated peak passes the worker's memory limit (None when it fits)."""
    if peak_gb <= limit_gb:
        return None
    return (
        f"This training would need about {peak_gb:.1f} GB of memory at its peak, more than the "
        f"limit of {gb_text(limit_gb)} GB: it would stop and fail. Train on fewer items, or raise "
        f"the limit with {TRAIN_MEMORY_GB.env} if the machine has the memory to spare."
    )


def status_bytes(key: str, pid: int | str = "self") -> int | None:
    """One memory figure of a process in bytes, or None when it has none: VmRSS (resident) and VmData
    (data segment) from psutil; VmHWM (the resident peak, which psutil does not report) from
    /proc/<pid>/status."""
    if key in ("VmRSS", "VmData"):
        try:
            info = psutil.Process(None if pid == "self" else int(pid)).memory_info()
        except (psutil.Error, ValueError):
            return None
        return int(info.rss if key == "VmRSS" else getattr(info, "data", 0)) or None
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def release_free_memory() -> None:
    """Collect garbage and hand the free memory of both allocators back to the system: Arrow's pool
    (text columns live there) and the C library's heap; what grows next is new work, and what a
    closed session held shows as returned."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def use_system_allocator() -> None:
    """Let Arrow (text columns, Parquet) allocate through the C library as the rest of the process
    does, so what a closed session freed goes back to the system at the next
    `release_free_memory()`: Arrow's default pool (mimalloc) keeps freed pages for itself."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def reset_peak_rss() -> bool:
    """Set this process's peak resident size (VmHWM) to its resident size now (Linux 4.0 and later)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return status_bytes("VmHWM") is not None


@contextlib.contextmanager
def memory_used() -> Iterator[dict]:
    """Measure a block: `peak` is the most memory it held at once above what the process held before,
    `kept` what it still holds at its end (bytes; filled in when the block ends).

    Resident memory, so C libraries' own allocations (the nodes of scikit-learn's trees) count too:
    VmRSS before and after, and the peak VmHWM, reset at the start through /proc/self/clear_refs,
    which costs nothing. Where that reset is not available, tracemalloc counts Python's and numpy's
    allocations instead; it makes a fit about three times slower.
    """
    import tracemalloc

    release_free_memory()
    rss_before = status_bytes("VmRSS") or 0
    out: dict = {"peak": 0, "kept": 0}
    if reset_peak_rss():
        try:
            yield out
        finally:
            rss_now = status_bytes("VmRSS") or rss_before
            out["kept"] = max(rss_now - rss_before, 0)
            out["peak"] = max((status_bytes("VmHWM") or rss_now) - rss_before, out["kept"])
        return
    tracing_here = not tracemalloc.is_tracing()
    if tracing_here:
        tracemalloc.start()
    tracemalloc.reset_peak()
    traced_before, _ = tracemalloc.get_traced_memory()
    try:
        yield out
    finally:
        traced_now, traced_peak = tracemalloc.get_traced_memory()
        if tracing_here:
            tracemalloc.stop()
        out["kept"] = max(traced_now - traced_before, 0)
        out["peak"] = max(traced_peak - traced_before, out["kept"])


def process_memory() -> int:
    """What this process holds now, in bytes: resident memory (VmRSS)."""
    return status_bytes("VmRSS") or 0


def limit_memory(gb: float) -> None:
    """Cap this process's data segment (RLIMIT_DATA) at `gb` GB; a lower hard limit stays in force.

    RLIMIT_DATA (Linux 4.7 and later) counts the private writable memory — the heap, the anonymous
    mappings that hold numpy's arrays, thread stacks — which is what a training grows. RLIMIT_AS
    would also count address space that is only reserved or shared: glibc's malloc arenas
    (64 MB each, inaccessible until used), the shared libraries of numpy, scipy and scikit-learn,
    so the same limit would stop a worker far below the memory it really uses. An allocation past
    the limit fails, and Python and numpy raise MemoryError.
    """
    import resource

    want = int(gb * (1 << 30))
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (want, hard))


def out_of_memory_message(gb: float) -> str:
    """What a job that hit the worker's memory limit says."""
    return (f"ran out of the memory limit ({gb_text(gb)} GB); a dry run estimates the peak, "
            f"and {TRAIN_MEMORY_GB.env} raises the limit")


def is_out_of_memory(exc: BaseException | None) -> bool:
    """Whether an error (or one it arose from) means memory was refused: MemoryError, and what a
    thread start or the loading of a library raise when the memory limit refuses their memory."""
    for _ in range(8):
        if exc is None:
            return False
        if isinstance(exc, MemoryError):
            return True
        if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
            return True
        text = str(exc)
        if isinstance(exc, RuntimeError) and "can't start new thread" in text:
            return True
        if isinstance(exc, ImportError) and ("failed to map segment" in text or "Cannot allocate memory" in text):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


# A job whose worker sits this close to its memory limit for STUCK_AT_LIMIT_SEC has hit it, even
# when nothing raised: OpenBLAS retries a refused buffer (32 MB) for ever, holding the GIL.
NEAR_LIMIT_BYTES = 48 << 20
STUCK_AT_LIMIT_SEC = 2.0


def proc_start(pid: int) -> str | None:
    """The kernel's start time of a process in clock ticks since boot (guards against a reused pid),
    if /proc has it. Job records keep this figure as written since their first format, so it stays
    the kernel's own rather than psutil's rounded create_time()."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_ = stat[stat.rfind(")") + 2:].split()
    return fields_[19] if len(fields_) > 19 else None


def is_zombie(pid: int) -> bool:
    """Whether a process has ended but not been waited for (it holds no resources any more)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
