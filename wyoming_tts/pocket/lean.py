"""Import pocket-tts without the parts a server never runs: about 130 MB less resident memory.

`import pocket_tts` brings in `scipy.signal` (66 MB, for one function that resamples a voice
recording), `scipy.io.wavfile` (a debugging dump) and, through one `@torch.compiler.disable`
decorator, `torch._dynamo` with sympy (over 30 MB): the compiler is never used here. While
pocket-tts is imported, those names stand in as small functions that import the real module
on first use; afterwards every other import gets the real modules as usual. Measured: 374 MB
after the import, 242 MB with this (torch alone is 218 MB).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

# Module -> names pocket-tts takes from it at import time, each used only now and then.
_DEFERRED = {"scipy.signal": ("resample_poly",), "scipy.io.wavfile": ("read", "write")}


def _deferred(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    call.__doc__ = f"{module}.{name}, imported on first use."
    return call


def _no_compiler(fn: Any = None, recursive: bool = True, **_kwargs: Any) -> Any:
    """`torch.compiler.disable` for code that is never compiled: the function as it is."""
    return fn if fn is not None else (lambda f: f)


def import_pocket_tts() -> None:
    """Import pocket_tts (once) with the heavy, unused modules deferred."""
    if "pocket_tts" in sys.modules:
        return
    import torch

    stand_ins = {}
    for module, names in _DEFERRED.items():
        if module in sys.modules:  # someone has it already: nothing to save
            continue
        stand_in = types.ModuleType(module)
        for name in names:
            setattr(stand_in, name, _deferred(module, name))
        stand_ins[module] = stand_in
    disable = torch.compiler.disable
    sys.modules.update(stand_ins)
    torch.compiler.disable = _no_compiler
    try:
        importlib.import_module("pocket_tts")
    finally:
        torch.compiler.disable = disable
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]
