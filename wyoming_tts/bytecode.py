"""Write the bytecode of what the server imports, and of nothing else: the images' last step.

The images install with `pip --no-compile`, then run `python -m wyoming_tts.bytecode` as
root. Importing the modules below writes their `__pycache__`, so a start (the standalone
image's user cannot write to /opt/venv) loads them as fast as with every file compiled, while
the packages' parts the server never runs (torch's compiler stack, test helpers, the
command-line tools of dependencies) carry no bytecode. This package's own files are all
compiled.
"""

from __future__ import annotations

import compileall
import importlib
import sys
from pathlib import Path

# What a start and a request import: the model and its engine, both doors and the page.
MODULES = (
    "wyoming_tts.__main__",
    "wyoming_tts.pocket.model",
    "wyoming_tts.pocket.batch",
    "wyoming_tts.pocket.decoder",
    "wyoming_tts.pocket.random_model",
    "wyoming_tts.engine.models",
    "wyoming_tts.engine.front",
    "wyoming_tts.engine.speech",
    "wyoming_tts.engine.scheduler",
    "wyoming_tts.server.handler",
    "wyoming_tts.server.discovery",
    "wyoming_tts.server.supervisor",
    "wyoming_tts.web.server",
    "wyoming_tts.web.api",
    "wyoming_tts.web.speech_api",
    "wyoming_tts.audio.output",
    "wyoming_tts.audio.rate",
    "wyoming_tts.audio.encoders",
    "wyoming_tts.text.pipeline",
    "wyoming_tts.text.ssml",
    "wyoming_tts.commands.app",
    "wyoming_tts.commands.health",
    "wyoming_tts.commands.normalize",
    "wyoming_tts.metrics",
    "audiotsm.wsola",
    "scipy.signal",
    "scipy.io.wavfile",
    "soundfile",
)


def main() -> int:
    compileall.compile_dir(str(Path(__file__).parent), quiet=1)
    for name in MODULES:
        importlib.import_module(name)
    print(f"bytecode written for {len(sys.modules)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
