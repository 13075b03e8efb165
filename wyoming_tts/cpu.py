"""What this CPU can safely do, where torch cannot tell by itself.

The aarch64 torch wheels ship a BLAS library that uses ARMv8.1 atomic instructions (LSE) from
its worker threads. The Raspberry Pi 3 and 4 (Cortex-A53, A72) are ARMv8.0: on more than one
torch thread the process dies with SIGILL. The kernel says whether the CPU has them in the
auxiliary vector (HWCAP_ATOMICS), which is also true under emulation, unlike /proc/cpuinfo.
"""

from __future__ import annotations

import ctypes
import platform

_AT_HWCAP = 16
_HWCAP_ATOMICS = 1 << 8


def is_arm64() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64")


def hwcap() -> int | None:
    """The kernel's AT_HWCAP bits, None when they cannot be read."""
    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):
        return None
    getauxval.restype = ctypes.c_ulong
    getauxval.argtypes = [ctypes.c_ulong]
    return int(getauxval(_AT_HWCAP))


def arm64_without_atomics() -> bool:
    """True on an aarch64 CPU without LSE atomics (or whose features cannot be read)."""
    if not is_arm64():
        return False
    bits = hwcap()
    return bits is None or not bits & _HWCAP_ATOMICS


def safe_threads(requested: int) -> tuple[int, str | None]:
    """The torch thread count to use for REQUESTED, and why it differs when it does."""
    if requested > 1 and arm64_without_atomics():
        return 1, (
            f"Using 1 torch thread, not {requested}: this ARM CPU has no LSE atomics "
            "(ARMv8.0, as the Raspberry Pi 3 and 4), and torch's BLAS crashes on it with more "
            "than one thread."
        )
    return requested, None
