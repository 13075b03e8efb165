"""Every pocket-tts internal the project uses, pinned against the installed pocket-tts: an
upgrade that moves, renames or reshapes one fails here, by name."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from wyoming_tts.pocket import upstream


@pytest.mark.parametrize("name", upstream.__all__)
def test_each_name_exists(name: str) -> None:
    assert getattr(upstream, name) is not None


@pytest.mark.parametrize(
    ("owner", "methods"),
    [("tts", upstream.TTS_MODEL_METHODS), ("flow_lm", upstream.FLOW_LM_METHODS)],
)
def test_private_methods_take_the_arguments_passed(owner: str, methods: dict) -> None:
    from pocket_tts.models.flow_lm import FlowLMModel

    cls = upstream.TTSModel if owner == "tts" else FlowLMModel
    for method, arguments in methods.items():
        parameters = list(inspect.signature(getattr(cls, method)).parameters)[1:]
        assert parameters == list(arguments), f"{cls.__name__}.{method}{parameters}"


def test_the_public_calls_and_the_state_layout(tiny: dict[str, Path]) -> None:
    """The calls and the voice state's shape the engine relies on: a dict of modules, each a
    dict of tensors, that survives export and import."""
    import torch

    model = upstream.TTSModel.load_model(config=str(tiny["config"]))
    for call, arguments in {
        "load_model": ("config", "quantize"),
        "get_state_for_audio_prompt": ("audio_conditioning", "truncate"),
        "generate_audio_stream": ("model_state", "text_to_generate", "stop"),
    }.items():
        parameters = inspect.signature(getattr(model, call)).parameters
        assert set(arguments) <= set(parameters), call
    attributes = ("sample_rate", "temp", "sampler_decode_steps", "noise_clamp", "eos_threshold",
                  "has_voice_cloning", "flow_lm", "mimi", "config")  # fmt: skip
    for attribute in attributes:
        assert hasattr(model, attribute), attribute
    state = model.get_state_for_audio_prompt(tiny["voices"] / "hummer.wav", truncate=True)
    assert isinstance(state, dict) and state
    assert all(isinstance(t, torch.Tensor) for m in state.values() for t in m.values())
    path = tiny["folder"] / "pinned.safetensors"
    upstream.export_model_state(state, path)
    again = upstream.import_model_state(path, model.device)
    assert again.keys() == state.keys()
    fresh = upstream.init_states(model.flow_lm, batch_size=2, sequence_length=8)
    assert isinstance(fresh, dict) and fresh
    assert any(isinstance(m, upstream.StreamingMultiheadAttention) for m in model.flow_lm.modules())
    assert upstream.MAX_TOKEN_PER_CHUNK > 0 and upstream.CONFIGS_DIR.is_dir()


def test_the_pocket_package_and_the_random_configs_import_without_torch() -> None:
    code = (
        "import sys; import wyoming_tts.pocket, wyoming_tts.pocket.random_model; "
        "print('torch' in sys.modules, 'pocket_tts' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "False"]
