"""The voice catalogue (built-in and custom voices) and the voice-state cache.

A client's voice name only ever selects an entry of the catalogue: it never becomes a path, a
URL or an `hf://` reference. Scanning folders and encoding voices block, so callers run them
off the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from wyoming_tts.languages import language_name

_LOGGER = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a"})
STATE_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Voice:
    """One entry of the catalogue."""

    name: str
    language: str
    kind: Literal["builtin", "audio", "state"]
    source: str  # built-in voice name, or the file's path
    description: str
    origin: str | None = None  # where the recording comes from, for attribution
    stamp: tuple[int, int] = (0, 0)  # (mtime_ns, size) of a file, so an edited file is new

    @property
    def path(self) -> Path | None:
        return None if self.kind == "builtin" else Path(self.source)


@dataclass(frozen=True)
class LanguageModel:
    """What the catalogue needs to know of one configured model."""

    language: str
    builtin_voices: tuple[str, ...]  # empty for a community config
    origins: dict[str, str]


class VoiceCatalog:
    """Built-in voices of each model plus the files of the voice folders."""

    def __init__(
        self,
        models: Sequence[LanguageModel],
        voices_dirs: Sequence[Path],
        can_clone: Callable[[str], bool] = lambda _language: True,
    ) -> None:
        self.models = list(models)
        self.voices_dirs = list(voices_dirs)
        self.can_clone = can_clone
        self.primary_language = self.models[0].language
        self._languages = {m.language for m in self.models}
        self._voices: dict[str, Voice] = {}
        self._broken: set[tuple[str, tuple[int, int]]] = set()
        self._checked: set[tuple[str, tuple[int, int]]] = set()
        self._lock = threading.Lock()
        self.refresh()

    @property
    def voices(self) -> list[Voice]:
        return list(self._voices.values())

    def refresh(self) -> list[Voice]:
        """Rescan the voice folders (stat calls only: cheap, but run it off the loop)."""
        entries: list[Voice] = []
        for model in self.models:
            for name in model.builtin_voices:
                entries.append(
                    Voice(
                        name=name,
                        language=model.language,
                        kind="builtin",
                        source=name,
                        description=_describe(name, model.language),
                        origin=model.origins.get(name),
                    )
                )
        for voice in self._scan_files():
            if voice.kind == "audio" and not self.can_clone(voice.language):
                continue
            entries.append(voice)
        voices = _unique_names(entries, self.primary_language)
        with self._lock:
            self._voices = voices
        return list(voices.values())

    def _scan_files(self) -> Iterable[Voice]:
        for folder in self.voices_dirs:
            yield from self._scan_folder(folder, self.primary_language)
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError as err:
                _LOGGER.warning("Cannot read voice folder %s: %s", folder, err)
                continue
            for child in children:
                if child.name.lower() in self._languages:
                    yield from self._scan_folder(child, child.name.lower())

    def _scan_folder(self, folder: Path, language: str) -> Iterable[Voice]:
        try:
            files = sorted(p for p in folder.iterdir() if p.is_file())
        except OSError as err:
            _LOGGER.warning("Cannot read voice folder %s: %s", folder, err)
            return
        for path in files:
            suffix = path.suffix.lower()
            if suffix not in AUDIO_SUFFIXES and suffix != STATE_SUFFIX:
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            if (str(path), stamp) in self._broken:
                continue
            if (str(path), stamp) not in self._checked:
                problem = _unreadable(path, suffix)
                if problem:
                    self.mark_broken(str(path), stamp, problem)
                    continue
                self._checked.add((str(path), stamp))
            yield Voice(
                name=_clean_name(path.stem),
                language=language,
                kind="state" if suffix == STATE_SUFFIX else "audio",
                source=str(path),
                description=f"{path.stem} ({language_name(language)}, custom)",
                stamp=stamp,
            )

    def mark_broken(self, source: str, stamp: tuple[int, int], reason: str) -> None:
        """Stop listing a file that cannot become a voice; logged once (any thread)."""
        with self._lock:
            new = (source, stamp) not in self._broken
            self._broken.add((source, stamp))
        if new:
            _LOGGER.warning("Voice file %s is not usable and is not listed: %s", source, reason)

    def get(self, name: str) -> Voice | None:
        with self._lock:
            return self._voices.get(name)

    def default_voice(self, language: str, preferred: str | None) -> Voice | None:
        """The voice of LANGUAGE named PREFERRED (plain or suffixed), else its first voice."""
        with self._lock:
            voices = list(self._voices.values())
        if preferred:
            for voice in voices:
                if voice.language == language and voice.name in (
                    preferred,
                    f"{preferred}-{language}",
                ):
                    return voice
        return next((v for v in voices if v.language == language), None)


def _unreadable(path: Path, suffix: str) -> str | None:
    """Why PATH cannot be a voice (reading only its header), or None when it looks fine."""
    try:
        if path.stat().st_size == 0:
            return "the file is empty"
        if suffix == STATE_SUFFIX:
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as state:
                if not list(state.keys()):
                    return "the voice state holds no tensors"
            return None
        import soundfile

        info = soundfile.info(str(path))
        if info.frames == 0:
            return "the recording is empty"
        if info.duration < 1.0:
            return f"the recording is only {info.duration:.1f} s; use 5 to 10 s of speech"
    except Exception as err:
        return f"{type(err).__name__}: {err}".strip()
    return None


def _describe(name: str, language: str) -> str:
    return f"{name.replace('_', ' ').title()} ({language_name(language)})"


def _clean_name(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem.strip()) or "voice"


def _unique_names(entries: list[Voice], primary: str) -> dict[str, Voice]:
    """Key voices by name; a name taken already gets its language as a suffix ("alba-de")."""
    result: dict[str, Voice] = {}
    # Custom files override built-in voices of the same name and language.
    ordered = sorted(entries, key=lambda v: (v.language != primary, v.kind == "builtin"))
    for voice in ordered:
        name = voice.name
        if name in result:
            name = f"{voice.name}-{voice.language}"
            if name in result:
                continue
        result[name] = Voice(**{**voice.__dict__, "name": name})
    return dict(sorted(result.items(), key=lambda kv: (kv[1].language, kv[0])))


class StateModel(Protocol):
    """What the cache needs of a model (see pocket.PocketModel)."""

    id: str

    def builtin_voice_state(self, name: str) -> object: ...
    def encode_audio(self, path: Path) -> object: ...
    def load_state(self, path: Path) -> object: ...
    def save_state(self, state: object, path: Path) -> None: ...
    def state_bytes(self, state: object) -> int: ...


class VoiceStates:
    """Voice states in memory (an LRU within a budget) and on disk (safetensors files).

    Encoding an audio file into a state takes a second on x86 and several on a Pi; it runs on
    one encoder thread, one file at a time, beside the model's speaking threads (pocket-tts
    reads the weights only, and each encoding has its own state: tests/test_front.py forces
    that interleaving). A voice asked for twice at once is encoded once. A lower priority for
    this thread (nice 2, 5, 10) was measured and gained nothing: the listeners' worst silence
    was within 25 ms at every level, while the new voice's first audio grew from 0.97 s to
    1.3-1.6 s (flagship int8, two cores, `wyoming-tts bench --new-voice 2`).
    """

    def __init__(self, cache_dir: Path, budget_bytes: int, library_version: str) -> None:
        self.cache_dir = cache_dir
        self.budget_bytes = budget_bytes
        self.library_version = library_version
        self.encodings = 0  # how many audio files were encoded (tests and logs read it)
        self.hits = 0  # states found in memory
        self.misses = 0  # states loaded from disk or made
        self._memory: OrderedDict[tuple[str, str, tuple[int, int]], tuple[object, int]] = (
            OrderedDict()
        )
        self._pinned: set[tuple[str, str, tuple[int, int]]] = set()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str, tuple[int, int]], threading.Lock] = {}
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="voice-encoder")

    def cached(self, voice: Voice, model: StateModel, *, pin: bool = False) -> object | None:
        """The state of VOICE for MODEL when it is in memory (cheap: fine on the event loop)."""
        key = (model.id, voice.source, voice.stamp)
        with self._lock:
            if key not in self._memory:
                return None
            self.hits += 1
            self._memory.move_to_end(key)
            if pin:
                self._pinned.add(key)
            return self._memory[key][0]

    def get(self, voice: Voice, model: StateModel, *, pin: bool = False) -> object:
        """The state of VOICE for MODEL: from memory, from disk, or made now (blocking)."""
        state = self.cached(voice, model, pin=pin)
        if state is not None:
            return state
        key = (model.id, voice.source, voice.stamp)
        with self._lock:  # one lock a voice: asked for twice at once, it is made once
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            state = self.cached(voice, model, pin=pin)
            if state is not None:
                return state
            state = self._load(voice, model)
            with self._lock:
                self.misses += 1
            size = model.state_bytes(state)
            with self._lock:
                self._memory[key] = (state, size)
                if pin:
                    self._pinned.add(key)
                self._evict()
        return state

    def close(self) -> None:
        """End the encoder thread (an encoding in progress finishes first)."""
        self._encoder.shutdown(wait=False, cancel_futures=True)

    def forget(self, source: str) -> None:
        """A voice file is being deleted: drop its states from memory and from the disk cache."""
        path = Path(source)
        digest = _sha256(path) if path.is_file() else None
        with self._lock:
            for key in [k for k in self._memory if k[1] == source]:
                self._memory.pop(key)
                self._pinned.discard(key)
        if digest is not None and self.cache_dir.is_dir():
            for cached in self.cache_dir.glob(f"{digest}-*.safetensors"):
                cached.unlink(missing_ok=True)

    def _evict(self) -> None:
        total = sum(size for _state, size in self._memory.values())
        for key in list(self._memory):
            if total <= self.budget_bytes:
                break
            if key in self._pinned:
                continue
            total -= self._memory.pop(key)[1]

    def _load(self, voice: Voice, model: StateModel) -> object:
        if voice.kind == "builtin":
            return model.builtin_voice_state(voice.source)
        path = Path(voice.source)
        if voice.kind == "state":
            return model.load_state(path)
        digest = _sha256(path)
        cached = self.cache_dir / f"{digest}-{model.id}-{self.library_version}.safetensors"
        if cached.is_file():
            try:
                return model.load_state(cached)
            except Exception as err:  # a torn or corrupt cache file: make it again
                _LOGGER.warning("Cached voice state %s is unreadable (%s); rebuilding", cached, err)
                cached.unlink(missing_ok=True)
        _LOGGER.info("Encoding voice %s for model %s", voice.name, model.id)
        state = self._encoder.submit(model.encode_audio, path).result()
        self.encodings += 1
        self._save(state, model, cached)
        return state

    def _save(self, state: object, model: StateModel, cached: Path) -> None:
        partial = cached.with_suffix(".partial")
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            model.save_state(state, partial)
            partial.replace(cached)
        except OSError as err:  # a full or read-only disk: the voice still works from memory
            _LOGGER.warning("Could not cache voice state in %s: %s", self.cache_dir, err)
            partial.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
