"""The Pocket TTS side of the engine: load a model, encode voices, make frames.

The engine's door to Pocket TTS (pocket-tts's own names come from `upstream`). Everything
here blocks and runs in a worker thread (or before the server opens its port), never on the
event loop.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import torch

from wyoming_tts.cpu import arm64_without_atomics, is_arm64, safe_threads
from wyoming_tts.languages import LANGUAGES
from wyoming_tts.pocket.batch import BatchGenerator
from wyoming_tts.pocket.decoder import AudioSink
from wyoming_tts.pocket.upstream import (
    _ORIGINS_OF_PREDEFINED_VOICES,
    CONFIGS_DIR,
    DEFAULT_VOICE_FALLBACK,
    DEFAULT_VOICE_FOR_LANGUAGE,
    TTSModel,
    export_model_state,
    import_model_state,
)
from wyoming_tts.settings import ModelSpec

_LOGGER = logging.getLogger(__name__)

POCKET_TTS_VERSION = version("pocket-tts")
# Where each built-in voice was recorded, for its attribution (pocket-tts's own table).
BUILTIN_VOICE_ORIGINS: dict[str, str] = dict(_ORIGINS_OF_PREDEFINED_VOICES)


class ModelLoadError(Exception):
    """A model could not be loaded; the message says what to do."""


def builtin_model_names() -> list[str]:
    """Names of the models that ship with pocket-tts (english, german_24l, ...)."""
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))


def default_voice_name(spec: ModelSpec) -> str:
    """The voice pocket-tts itself picks for a model's language."""
    source = spec.source if spec.source != "auto" else LANGUAGES[spec.language].model_prefix
    for key, voice in DEFAULT_VOICE_FOR_LANGUAGE.items():
        if source.startswith(key):
            return str(voice)
    return str(DEFAULT_VOICE_FALLBACK)


def model_id(spec: ModelSpec, quantize: bool) -> str:
    """A short id that changes whenever the model's weights or config do."""
    if spec.is_config:
        digest = hashlib.sha256(spec.source.encode())
        path = Path(spec.source)
        if path.is_file():
            digest.update(path.read_bytes())
        base = f"{Path(spec.source).stem}.{digest.hexdigest()[:12]}"
    else:
        base = spec.source
    return f"{base}.q8" if quantize else base


@dataclass
class PocketModel:
    """A loaded Pocket TTS model, behind the engine's `Model` protocol."""

    spec: ModelSpec
    model: TTSModel
    id: str

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    @property
    def frame_samples(self) -> int:
        return round(float(self.model.sample_rate) / float(self.model.config.mimi.frame_rate))

    @property
    def render_key(self) -> str:
        """Everything of the model that changes its audio for a text (the audio cache's key)."""
        m = self.model
        return (
            f"{self.id}|pocket-tts {POCKET_TTS_VERSION}|temp {m.temp}|"
            f"steps {m.sampler_decode_steps}|clamp {m.noise_clamp}|eos {m.eos_threshold}"
        )

    @property
    def can_clone(self) -> bool:
        """True when the weights can turn an audio file into a voice."""
        return bool(self.model.has_voice_cloning)

    def generate(
        self, voice_state: object, text: str, stop: threading.Event
    ) -> Iterator[torch.Tensor]:
        with torch.no_grad():
            yield from self.model.generate_audio_stream(
                model_state=voice_state,
                text_to_generate=text,
                stop=stop,
            )

    def open_batch(self, on_audio: AudioSink) -> BatchGenerator:
        """Rows that share each frame (the engine's `Batch`); audio goes to ON_AUDIO."""
        return BatchGenerator(self.model, on_audio)

    def builtin_voice_state(self, name: str) -> object:
        """The state of a built-in voice (downloaded by pocket-tts on first use)."""
        return self.model.get_state_for_audio_prompt(name)

    def encode_audio(self, path: Path) -> object:
        """Encode an audio file into a voice state (about a second for 5 s of audio)."""
        return self.model.get_state_for_audio_prompt(path, truncate=True)

    def load_state(self, path: Path) -> object:
        return import_model_state(path, self.model.device)

    @staticmethod
    def save_state(state: object, path: Path) -> None:
        export_model_state(state, path)

    @staticmethod
    def state_bytes(state: object) -> int:
        total = 0
        for module_state in state.values():  # type: ignore[attr-defined]
            for tensor in module_state.values():
                total += tensor.numel() * tensor.element_size()
        return total


def load_model(spec: ModelSpec, *, quantize: bool, threads: int) -> PocketModel:
    """Load SPEC (downloading weights through pocket-tts when needed)."""
    threads, why = safe_threads(threads)
    if why:
        _LOGGER.warning("%s", why)
    elif arm64_without_atomics():
        _LOGGER.info("ARM CPU without LSE atomics (ARMv8.0): torch stays on one thread")
    torch.set_num_threads(threads)  # after `import pocket_tts`, which sets it to 1
    if quantize and is_arm64() and "qnnpack" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "qnnpack"  # the default may claim x86 and fail
    _LOGGER.info(
        "torch %s on %s, CPU capability %s, %d thread(s)",
        torch.__version__,
        platform.machine(),
        torch.backends.cpu.get_cpu_capability(),
        threads,
    )
    try:
        if spec.is_config:
            model = TTSModel.load_model(config=spec.source, quantize=quantize)
        else:
            if spec.source not in builtin_model_names():
                raise ModelLoadError(
                    f"Unknown model {spec.source!r}; use one of "
                    f"{', '.join(builtin_model_names())} or the path of a YAML config."
                )
            model = TTSModel.load_model(language=spec.source, quantize=quantize)
    except ModelLoadError:
        raise
    except FileNotFoundError as err:
        raise ModelLoadError(f"Could not load model {spec.source!r}: {err}") from err
    except OSError as err:
        raise ModelLoadError(
            f"Could not download model {spec.source!r} ({err}); check the network, or run "
            "`wyoming-tts download` on a connected machine and copy the data folder."
        ) from err
    except Exception as err:
        raise ModelLoadError(
            f"Could not load model {spec.source!r}: {type(err).__name__}: {err}"
        ) from err
    model.eval()
    return PocketModel(spec=spec, model=model, id=model_id(spec, quantize))
