"""What the CPU can do natively, from the ``flags`` line of ``/proc/cpuinfo`` (Linux; elsewhere
every answer is False, which only makes the fast paths more conservative), and how the process's
memory allocator serves training (:func:`keep_freed_memory`)."""

from __future__ import annotations

import ctypes
import functools
import os
import sys

__all__ = ["cpu_flags", "cpu_has_native_bf16", "cpu_has_vnni", "keep_freed_memory"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


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


@functools.lru_cache(maxsize=1)
def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Let glibc's ``malloc`` keep freed blocks of up to ``limit`` bytes for reuse (process-wide).

    By default glibc gives every block above 32 MB back to the kernel when it is freed, and
    shrinks its heap whenever 32 MB at its top are free; the next training step asks for the same
    blocks again and the kernel hands out fresh zeroed pages, one page fault per 4 KB. On 10-s
    clips that is millions of page faults per run and a good part of its time. With this setting
    freed blocks are reused, at the cost of a slightly larger resident size.

    ``audiocnn train`` and ``audiocnn demo`` call it. It does nothing (returns False) outside
    glibc or when the user tunes malloc already (a ``MALLOC_*`` or ``GLIBC_TUNABLES`` variable
    in the environment); otherwise it returns whether glibc took every setting.
    """
    if not sys.platform.startswith("linux") or "GLIBC_TUNABLES" in os.environ \
            or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    limit = min(int(limit), 2**31 - 1)
    settings = ((_M_MMAP_THRESHOLD, limit), (_M_TRIM_THRESHOLD, limit), (_M_TOP_PAD, 64 << 20))
    return all(mallopt(param, value) == 1 for param, value in settings)
