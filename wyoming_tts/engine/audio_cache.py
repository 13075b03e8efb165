"""Repeated texts from a cache: a segment the model has spoken is kept, and spoken again from it.

What is kept is the model's own audio for one segment (before gain, rate and the limiter), so
a later request with the same segment, voice state and model answers from it at once, at
whatever rate and volume it asks for: each segment is prompted afresh from the voice state,
so its audio does not depend on the segments around it. The key is a digest of everything
that changes the model's audio: the model (id, pocket-tts version, temperature, decode steps,
end-of-speech threshold), the voice (its file and the file's stamp, or its built-in name) and
the text as the model gets it. At temperature 0 a hit is the same samples the model would make;
above 0, a repeated text replays its first rendering.

Entries live in memory (a least-recently-used bound) and on disk (`--audio-cache-mb`, least
recently used first, written atomically, each file checked by its digest on read: a torn file
is a miss, never noise). A voice's entries go when the voice is deleted; an edited voice file
has a new stamp, so its old entries are never hit again and age out. Nothing here knows of
Wyoming, HTTP or torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)

_MAGIC = b"WTTSF321"
_DIGEST = 32
# A segment is at most ~200 characters, some 20 s of audio: this bounds one file's size.
MAX_ENTRY_SAMPLES = 24000 * 60
# Memory holds the most recent: at most a quarter of the disk budget and 8 MB (some 85 s of
# audio at 24 kHz, float32): a Pi's memory is for the model; the rest comes from disk.
MEMORY_SHARE = 4
MAX_MEMORY_BYTES = 8 << 20


def segment_key(render: str, voice: str, text: str) -> str:
    """The cache key of TEXT spoken by VOICE with RENDER (the model and its settings)."""
    digest = hashlib.sha256()
    for part in (render, voice, text):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def voice_tag(voice: str) -> str:
    """The prefix of a voice's files: its entries can go when it is deleted."""
    return hashlib.sha256(voice.split("|", 2)[1].encode("utf-8", "surrogatepass")).hexdigest()[:12]


class AudioCache:
    """Segments' audio (the model's float32 samples, exact) by key, in memory and on disk."""

    def __init__(self, folder: Path, budget_bytes: int) -> None:
        self.folder = folder
        self.budget_bytes = budget_bytes
        self.memory_budget = min(budget_bytes // MEMORY_SHARE, MAX_MEMORY_BYTES)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_bytes = 0
        self._disk: OrderedDict[str, tuple[Path, int]] = OrderedDict()  # oldest first
        self._disk_bytes = 0
        if budget_bytes > 0:
            self._scan()

    @property
    def enabled(self) -> bool:
        return self.budget_bytes > 0

    def has(self, key: str) -> bool:
        """True when KEY may be answered (cheap: no disk read)."""
        with self._lock:
            return key in self._memory or key in self._disk

    def get(self, key: str) -> np.ndarray | None:
        """KEY's samples, or None (a miss; a torn or unreadable file is dropped). May read a
        file: not on the event loop."""
        with self._lock:
            samples = self._memory.get(key)
            if samples is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return samples
            entry = self._disk.get(key)
        samples = self._read(entry[0]) if entry is not None else None
        with self._lock:
            if samples is None:
                self.misses += 1
                if entry is not None:
                    self._drop_file(key)
                return None
            self.hits += 1
            if key in self._disk:
                self._disk.move_to_end(key)
            self._remember(key, samples)
        if entry is not None:
            _touch(entry[0])
        return samples

    def put(self, key: str, voice: str, samples: np.ndarray) -> None:
        """Keep SAMPLES (float32) under KEY, in memory and on disk (a file write)."""
        if self.remember(key, samples):
            self.store(key, voice, samples)

    def remember(self, key: str, samples: np.ndarray) -> bool:
        """Keep SAMPLES under KEY in memory (cheap: no disk); False when they are not kept."""
        if not self.enabled or samples.size == 0 or samples.size > MAX_ENTRY_SAMPLES:
            return False
        with self._lock:
            self._remember(key, np.ascontiguousarray(samples, dtype="<f4"))
        return True

    def store(self, key: str, voice: str, samples: np.ndarray) -> None:
        """Write SAMPLES under KEY to disk; the least recently used go past the budget."""
        samples = np.ascontiguousarray(samples, dtype="<f4")
        path = self.folder / f"{voice_tag(voice)}-{key}.pcm"
        size = self._write(path, samples)
        with self._lock:
            if size:
                self._drop_file(key)
                self._disk[key] = (path, size)
                self._disk_bytes += size
                self._evict_files()

    def forget_voice(self, source: str) -> None:
        """A voice file is deleted: its entries go from memory and disk."""
        tag = voice_tag(f"x|{source}")
        with self._lock:
            for key in [k for k, (path, _size) in self._disk.items() if path.name[:12] == tag]:
                self._drop_file(key)
                self._memory.pop(key, None)
            self._memory_bytes = sum(s.nbytes for s in self._memory.values())

    # -- inside -----------------------------------------------------------------------------
    def _remember(self, key: str, samples: np.ndarray) -> None:  # the lock held
        if key in self._memory:
            self._memory_bytes -= self._memory.pop(key).nbytes
        self._memory[key] = samples
        self._memory_bytes += samples.nbytes
        while self._memory_bytes > self.memory_budget and self._memory:
            self._memory_bytes -= self._memory.popitem(last=False)[1].nbytes

    def _drop_file(self, key: str) -> None:  # the lock held
        entry = self._disk.pop(key, None)
        if entry is not None:
            self._disk_bytes -= entry[1]
            entry[0].unlink(missing_ok=True)

    def _evict_files(self) -> None:  # the lock held
        while self._disk_bytes > self.budget_bytes and self._disk:
            key = next(iter(self._disk))
            self._drop_file(key)

    def _scan(self) -> None:
        if not self.folder.is_dir():
            return
        found = []
        for path in self.folder.glob("*.pcm"):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((stat.st_mtime_ns, path, stat.st_size))
        for _mtime, path, size in sorted(found):
            key = path.stem.split("-", 1)[-1]
            self._disk[key] = (path, size)
            self._disk_bytes += size
        self._evict_files()

    def _write(self, path: Path, samples: np.ndarray) -> int:
        data = samples.tobytes()
        blob = _MAGIC + hashlib.sha256(data).digest() + data
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(blob)
            partial.replace(path)
        except OSError as err:  # a full or read-only disk: the entry lives in memory only
            _LOGGER.warning("Could not keep audio in %s: %s", self.folder, err)
            partial.unlink(missing_ok=True)
            return 0
        return len(blob)

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        head = len(_MAGIC) + _DIGEST
        data = blob[head:]
        if (
            blob[: len(_MAGIC)] != _MAGIC
            or len(data) % 4
            or hashlib.sha256(data).digest() != blob[len(_MAGIC) : head]
        ):
            _LOGGER.warning("Cached audio %s is torn; it is made again", path.name)
            return None
        return np.frombuffer(data, dtype="<f4")


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass
