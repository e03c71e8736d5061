"""What the CPU can do natively, from the ``flags`` line of ``/proc/cpuinfo`` (Linux; elsewhere
every answer is False, which only makes the fast paths more conservative)."""

from __future__ import annotations

import functools

__all__ = ["cpu_flags", "cpu_has_native_bf16", "cpu_has_vnni"]


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return frozenset()


def cpu_has_vnni() -> bool:
    """True if the CPU has a non-saturating 8-bit dot product (AVX512-VNNI, AVX-VNNI or AMX)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_has_native_bf16() -> bool:
    """True if the CPU computes bfloat16 dot products in hardware (AVX512-BF16 or AMX-BF16).
    Without them oneDNN converts to float32 around every operation: bf16 convolutions then run
    at about half the fp32 speed, and bf16 matrix products (the Winograd path) far slower."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
