"""The process's memory: what it holds, what it can get back, what the host still has.

glibc keeps freed memory in per-thread arenas; the model's threads (the worker, the decoder,
the prompting helper) each allocate and free caches all the time, so a busy server collects
arenas it never returns. Two arenas and a trim after loading and after
requests keep the resident size near what the model needs. Large blocks get pages of their
own while a model loads (its temporaries go back at once), and come from the heap while it
serves (fresh pages for every tensor are slow). On other C libraries these are no-ops.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
ARENAS = 2
# While a model loads, allocations from this size up get pages of their own, returned the
# moment they are freed: pocket-tts builds the full-precision model before it quantizes it,
# and those temporaries must not stay (one bench run on the flagship int8: start-up peaked
# at 713 MB with this threshold, 825 MB with the serving one).
LOADING_MMAP_THRESHOLD = 256 * 1024
# While serving, blocks up to glibc's largest threshold come from the heap and are reused:
# fresh pages for every large tensor (a page fault each 4 KB, in every thread at once) cost
# four clients at once 30 % of their speed (measured on the flagship int8: 5.2 → 7.5 audio
# seconds per second; after 30 requests still 485 to 501 MB). Fixed, so glibc never moves it.
SERVING_MMAP_THRESHOLD = 32 * 1024 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas and fix its mmap threshold for loading (call before threads
    start); `serving()` once the server is ready. True when it took effect."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas)) and _mmap_threshold(LOADING_MMAP_THRESHOLD)


_loading = 0  # loading() calls under way
_serving = False  # serving() was called: outside loading(), large blocks come from the heap
_lock = threading.Lock()


def serving() -> None:
    """The process now serves: large blocks come from the heap (except inside `loading()`)."""
    global _serving
    with _lock:
        _serving = True
        if not _loading:
            _mmap_threshold(SERVING_MMAP_THRESHOLD)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Around loading a model (and at start-up, warming it up): large temporaries get pages
    of their own, then a trim."""
    global _loading
    with _lock:
        _loading += 1
        _mmap_threshold(LOADING_MMAP_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _loading -= 1
            if not _loading and _serving:
                _mmap_threshold(SERVING_MMAP_THRESHOLD)
        trim()


def _mmap_threshold(size: int) -> bool:
    mallopt = getattr(_libc(), "mallopt", None)
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, size))


def trim() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim)."""
    libc = _libc()
    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


def _status(field: str, path: Path = Path("/proc/self/status")) -> float:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of this process (or PID) in MB; 0 when unknown."""
    return _status("VmRSS", Path(f"/proc/{pid or 'self'}/status"))


def peak_mb(pid: int | None = None) -> float:
    """The highest resident memory of this process (or PID) so far, in MB."""
    return _status("VmHWM", Path(f"/proc/{pid or 'self'}/status"))


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_mb(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> float | None:
    """Memory this process can still take, in MB: the host's, or less inside a container."""
    host: float | None = None
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                host = int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        host = None
    limit = _read_int(cgroup / "memory.max")  # cgroup v2 ("max" when unlimited: None)
    usage = _read_int(cgroup / "memory.current")
    if limit is None:  # cgroup v1
        limit = _read_int(cgroup / "memory" / "memory.limit_in_bytes")
        usage = _read_int(cgroup / "memory" / "memory.usage_in_bytes")
    if limit is not None and usage is not None and limit < 1 << 60:
        room = (limit - usage) / 1048576
        return room if host is None else min(room, host)
    return host
