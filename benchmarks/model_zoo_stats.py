"""Parameters and operations of the PANNs models: ours against the original code's own counters.

    python benchmarks/model_zoo_stats.py                 # our figures only (fast, meta device)
    AUDIOCNN_PANNS_REFERENCE=/path/to/audioset_tagging_cnn/pytorch/models.py \
        nice python benchmarks/model_zoo_stats.py        # + PANNs' count_parameters/count_flops

Prints a markdown table. "orig multi-adds" is PANNs' ``pytorch_utils.count_flops`` run on the
original class for a 10-s clip at the model's rate (the function that produced the paper's table: a
multiply and an add count separately, BatchNorm/ReLU/pooling modules are added), so compare it
with "2 x MACs". Nothing here is timed; the numbers do not depend on the machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path

import torch

import audiocnn
from audiocnn.models._registry import model_family
from audiocnn.models.analysis import model_stats
from audiocnn.models.layers import PANNS_FRONTENDS


def _original():
    path = os.environ.get("AUDIOCNN_PANNS_REFERENCE")
    if not path:
        return None, None
    path = Path(path)
    sys.path.insert(0, str(path.parent))  # its "from pytorch_utils import ..."
    spec = importlib.util.spec_from_file_location("_panns_original_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import pytorch_utils  # noqa: E402  (beside models.py)

    return mod, pytorch_utils


def main() -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    orig, utils = _original()
    names = [n for n in audiocnn.list_models() if model_family(n).startswith("panns")]
    head = "| model | original class | input | params (M) | MACs (G) | 2 x MACs (G) |"
    sep = "|---|---|---|---:|---:|---:|"
    if orig is not None:
        head += " orig params (M) | orig multi-adds (G) | 2 x MACs / orig |"
        sep += "---:|---:|---:|"
    print("Per 10-s clip at the model's rate, batch of 1; STFT counted as PANNs' DFT convolution.\n")
    print(head)
    print(sep)
    for name in names:
        s = model_stats(name, seconds=10.0, cache=False)
        row = f"| {name} | {s.checkpoint_class} | {s.input} | {s.params / 1e6:.3f} | {s.macs / 1e9:.3f} | {s.paper_style_gflops:.3f} |"
        if orig is not None:
            # the PANNs settings of the model's rate (Cnn14_16k / Cnn14_8k assert theirs)
            m = getattr(orig, s.checkpoint_class)(s.sample_rate, *PANNS_FRONTENDS[s.sample_rate], 527).eval()
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # it warns per module
                flops = utils.count_flops(m, 10 * s.sample_rate)
            params = utils.count_parameters(m)
            row += f" {params / 1e6:.3f} | {flops / 1e9:.3f} | {s.paper_style_gflops * 1e9 / flops:.4f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
