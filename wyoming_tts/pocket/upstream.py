"""Every pocket-tts name this project uses, imported in this one module.

pocket-tts's public API (`TTSModel.load_model`, `generate_audio_stream`, voice states) is
enough for one request at a time; batching rows needs its internals: the text chunking rules,
the stateful modules and their state layout, the FlowLM's sampler. They are named here, and
`tests/test_upstream.py` pins each one (it exists, with the arguments the project passes), so a
pocket-tts upgrade that moves or renames one fails in one obvious place. pocket-tts is imported
through `lean`, without the modules a server never runs.
"""

from __future__ import annotations

from wyoming_tts.pocket.lean import import_pocket_tts

import_pocket_tts()

from pocket_tts import TTSModel, export_model_state  # noqa: E402
from pocket_tts.default_parameters import (  # noqa: E402
    DEFAULT_VOICE_FALLBACK,
    DEFAULT_VOICE_FOR_LANGUAGE,
    MAX_TOKEN_PER_CHUNK,
)
from pocket_tts.models.model_state import _import_model_state as import_model_state  # noqa: E402
from pocket_tts.models.text_chunking import (  # noqa: E402
    prepare_text_prompt,
    split_into_best_sentences,
)
from pocket_tts.modules.attention import StreamingMultiheadAttention  # noqa: E402
from pocket_tts.modules.stateful_module import (  # noqa: E402
    ModelState,
    StatefulModule,
    init_states,
)
from pocket_tts.utils.config import CONFIGS_DIR  # noqa: E402
from pocket_tts.utils.utils import _ORIGINS_OF_PREDEFINED_VOICES  # noqa: E402

# Private methods called on pocket-tts objects (batch.py, prefill.py), with the arguments
# passed: the pin test checks that each takes them.
TTS_MODEL_METHODS = {"_estimate_max_gen_len": ("token_count",)}
FLOW_LM_METHODS = {
    "_sample_next_latent": (
        "sequence",
        "text_embeddings",
        "model_state",
        "sampler_decode_steps",
        "temp",
        "noise_clamp",
        "eos_threshold",
    )
}

__all__ = [
    "CONFIGS_DIR",
    "DEFAULT_VOICE_FALLBACK",
    "DEFAULT_VOICE_FOR_LANGUAGE",
    "FLOW_LM_METHODS",
    "MAX_TOKEN_PER_CHUNK",
    "TTS_MODEL_METHODS",
    "_ORIGINS_OF_PREDEFINED_VOICES",
    "ModelState",
    "StatefulModule",
    "StreamingMultiheadAttention",
    "TTSModel",
    "export_model_state",
    "import_model_state",
    "init_states",
    "prepare_text_prompt",
    "split_into_best_sentences",
]
