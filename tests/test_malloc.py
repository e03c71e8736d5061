"""keep_freed_memory: freed training buffers are reused instead of coming back as fresh pages."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

import audiocnn.cpu as cpu


def _is_glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and bool(ctypes.CDLL(None).gnu_get_libc_version)
    except (OSError, AttributeError):
        return False


glibc_only = pytest.mark.skipif(not _is_glibc(), reason="mallopt settings exist in glibc only")

# Allocates, touches and frees a 64-MB float block 20 times (a training step's large buffers)
# and prints the minor page faults of the loop.
_LOOP = """
import json, resource, sys
import torch
if sys.argv[1] == "keep":
    from audiocnn.cpu import keep_freed_memory
    assert keep_freed_memory()
x = torch.ones(16 << 20)
del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    x = torch.ones(16 << 20)
    del x
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _LOOP, mode], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


@glibc_only
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default, kept = _faults("default"), _faults("keep")
    pages = 20 * (64 << 20) // 4096
    assert default > pages // 2  # glibc unmaps each 64-MB block and faults it in again
    assert kept <= pages // 20  # at most the first block is faulted in


@glibc_only
def test_it_applies_once_and_leaves_a_user_s_malloc_settings_alone(monkeypatch):
    cpu.keep_freed_memory.cache_clear()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert cpu.keep_freed_memory() is False
    cpu.keep_freed_memory.cache_clear()
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1")
    assert cpu.keep_freed_memory() is False
    cpu.keep_freed_memory.cache_clear()


def test_train_and_demo_prepare_the_process(monkeypatch, tmp_path):
    from audiocnn.cli import main

    calls = []
    monkeypatch.setattr(cpu, "keep_freed_memory", lambda: calls.append("kept") or True)
    import audiocnn.cli.demo as demo
    import audiocnn.evaluate.runner as runner

    monkeypatch.setattr(runner, "run_training", lambda *a, **k: (_ for _ in ()).throw(SystemExit(0)))
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: (_ for _ in ()).throw(SystemExit(0)))
    for argv in (["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")], ["demo", "--out", str(tmp_path / "d")]):
        with pytest.raises(SystemExit):
            main(argv)
    assert calls == ["kept", "kept"]
