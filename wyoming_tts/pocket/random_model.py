"""Pocket TTS configs with random weights, for tests and offline benchmarks.

A random-weight model costs the same compute per frame as the real one, so its speed is
honest; its sound is noise. Nothing here downloads anything: the tokenizer is a small
sentencepiece model trained on the spot.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

_CORPUS = (
    "Hello world. The quick brown fox jumps over the lazy dog. "
    "It is 21.5 degrees in the kitchen and 19 degrees in the bedroom. "
    "Turn on the lights in the living room, please. Good morning! How are you today? "
    "The washing machine has finished. Your timer for 10 minutes is done. "
    "Guten Morgen, wie geht es dir? Bonjour, il fait beau aujourd'hui. "
    "One, two, three, four, five, six, seven, eight, nine, ten... "
    "Zero 0 1 2 3 4 5 6 7 8 9 percent % degrees ° euros € dollars $."
)


def train_tokenizer(folder: Path, vocab_size: int = 96) -> Path:
    """Train a tiny sentencepiece tokenizer into FOLDER and return its path."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.txt"
    sentences = [s.strip() + "." for s in _CORPUS.split(".") if s.strip()]
    corpus.write_text("\n".join(sentences * 20), encoding="utf-8")
    prefix = folder / "tokenizer"
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="bpe",
        split_digits=True,
        user_defined_symbols=["..."],
        character_coverage=1.0,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def tiny_config(
    folder: Path,
    *,
    name: str = "tiny",
    eos_threshold: float = -1.0,
    frames_after_eos: int = 2,
) -> Path:
    """Write the YAML of a tiny random model (a few thousand parameters) into FOLDER."""
    tokenizer = train_tokenizer(folder / f"{name}-tokenizer")
    config: dict[str, Any] = {
        "default_temperature": 0.0,
        "default_eos_threshold": eos_threshold,
        "model_recommended_frames_after_eos": frames_after_eos,
        "flow_lm": {
            "dtype": "float32",
            "flow": {"depth": 1, "dim": 16, "type": "pointwise"},
            "transformer": {
                "d_model": 32,
                "hidden_scale": 1,
                "max_period": 10000,
                "num_heads": 2,
                "num_layers": 1,
            },
            "lookup_table": _lookup_table(32, tokenizer),
        },
        "mimi": {
            "dtype": "float32",
            "sample_rate": 24000,
            "channels": 1,
            "frame_rate": 12.5,
            "seanet": {
                "dimension": 32,
                "channels": 1,
                "n_filters": 4,
                "n_residual_layers": 1,
                "ratios": [6, 5, 4],
                "kernel_size": 3,
                "residual_kernel_size": 3,
                "last_kernel_size": 3,
                "dilation_base": 2,
                "pad_mode": "constant",
                "compress": 2,
            },
            "transformer": {
                "d_model": 32,
                "num_heads": 2,
                "num_layers": 1,
                "layer_scale": 0.01,
                "context": 50,
                "dim_feedforward": 32,
                "input_dimension": 32,
                "output_dimensions": [32],
            },
            "quantizer": {"dimension": 8, "output_dimension": 32},
        },
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def random_weights_config(model_name: str, folder: Path) -> Path:
    """The full-size architecture of a named pocket-tts model, with no weights to download."""
    from wyoming_tts.pocket.upstream import CONFIGS_DIR

    source = CONFIGS_DIR / f"{model_name}.yaml"
    if not source.is_file():
        names = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))
        raise ValueError(f"Unknown model {model_name!r}; use one of {', '.join(names)}.")
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config = copy.deepcopy(config)
    for key in ("weights_path", "weights_path_without_voice_cloning"):
        config.pop(key, None)
    config["flow_lm"].pop("weights_path", None)
    config["mimi"].pop("weights_path", None)
    tokenizer = train_tokenizer(folder / f"{model_name}-tokenizer")
    table = config["flow_lm"]["lookup_table"]
    table.update(_lookup_table(table["dim"], tokenizer))
    # Random weights say "end of speech" at random: end early, then add 30 frames, so that each
    # sentence lasts about 36 frames (2.9 s), like real speech, whatever the weights say.
    config["default_eos_threshold"] = -1.0
    config["model_recommended_frames_after_eos"] = 30
    config["default_temperature"] = 0.0  # repeatable: the same text gives the same audio
    path = folder / f"{model_name}-random.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _lookup_table(dim: int, tokenizer: Path) -> dict[str, Any]:
    import sentencepiece as spm

    vocab = spm.SentencePieceProcessor(model_file=str(tokenizer)).vocab_size()
    return {
        "dim": dim,
        "n_bins": vocab,
        "tokenizer": "sentencepiece",
        "tokenizer_path": str(tokenizer),
    }


def write_voice(path: Path, seconds: float = 2.0, rate: int = 24000, pitch: float = 220.0) -> Path:
    """Write a short synthetic voice recording (a hummed tone) to PATH."""
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    audio = 0.3 * np.sin(2 * np.pi * pitch * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.astype("float32"), rate)
    return path
