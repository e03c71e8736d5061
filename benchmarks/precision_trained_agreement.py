"""Do the reduced precisions keep a *trained* model's decisions? fp32 vs bf16 vs int8 on held-out
Free Spoken Digit recordings, with an audiocnn checkpoint trained on FSDD.

    python benchmarks/precision_trained_agreement.py CHECKPOINT --speaker george

The agreement check of ``inference_speed.py`` uses cnn14 with random weights (no AudioSet
checkpoint can be downloaded here), whose outputs hardly depend on the input. This one uses a
trained classifier (e.g. ``audiocnn train --dataset fsdd --model cnn6_lite_speech`` with
leave-one-speaker-out folds; pass the fold's test speaker so that the clips are held out).
int8 is calibrated on the built-in synthetic set; on recordings of the other speakers; and on
the held-out clips themselves, as ``audiocnn tag --precision int8`` does by default (it
calibrates on the files it is given). bf16 runs as ``Runner`` runs it (BatchNorm folded, Winograd
deep convolutions) and with oneDNN's direct convolutions. From a list of files, ``calibration_from_files`` reads 128
spread evenly and packs the short ones end to end into 16 windows of 5 s. Prints a markdown table: accuracy
of each precision, top-1 agreement with fp32 and the max probability difference.
"""

from __future__ import annotations

import argparse
import copy
import csv
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from audiocnn.audio import load_audio
from audiocnn.inference.runtime import Runner, load_model
from audiocnn.inference.tagger import Tagger
from audiocnn.testing import shared_data_dir

warnings.filterwarnings("ignore")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--speaker", required=True, help="FSDD speaker whose recordings were held out of training")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    fsdd = shared_data_dir() / "fsdd"
    rows = [r for r in csv.DictReader(open(fsdd / "metadata.csv")) if r["speaker"] == args.speaker]
    if not rows:
        raise SystemExit(f"no FSDD recordings of speaker {args.speaker!r}")
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    meta = ckpt.get("audiocnn", {})
    name = meta["name"]
    model, _ = load_model(name, args.checkpoint, warn_random=False)
    sr = model.sample_rate
    clip = float(meta.get("clip_seconds") or 1.0)
    waves = [load_audio(fsdd / r["filename"], sample_rate=sr)[0] for r in rows]
    labels = np.array([int(r["label"]) for r in rows])
    # calibration alternative: recordings of the other speakers (never the held-out one)
    others = [r for r in csv.DictReader(open(fsdd / "metadata.csv")) if r["speaker"] != args.speaker]
    calib = [str(fsdd / r["filename"]) for r in others]  # calibration_from_files reads 128, evenly spread
    probs = {}
    own = [str(fsdd / r["filename"]) for r in rows]  # what `audiocnn tag --precision int8` does by default
    for row, precision, cal in (("fp32", "fp32", None), ("bf16 (Winograd deep convs: the default)", "bf16", None),
                                 ("bf16 direct convs", "bf16", "direct"), ("int8 (synthetic calibration)", "int8", None),
                                 ("int8 (calibrated on recordings of other speakers)", "int8", calib),
                                 ("int8 (calibrated on the clips being scored: the CLI default)", "int8", own)):
        t = Tagger(copy.deepcopy(model), precision=precision, clip_seconds=clip, calibration=None if cal == "direct" else cal)
        if cal == "direct":
            t.runner.model = t.model = Runner(copy.deepcopy(model), "bf16", winograd=False).model
        probs[row] = np.concatenate([t.predict_proba(w) for w in waves])
    ref = probs["fp32"]
    print(f"Command: `python benchmarks/precision_trained_agreement.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ")
    print(f"{name} ({Path(args.checkpoint)}), {len(rows)} held-out recordings of {args.speaker}, {sr} Hz, "
          f"{clip:g}-s windows\n")
    print("| precision | accuracy | top-1 agrees with fp32 | top-5 set agrees | max prob diff vs fp32 | 99th pct. of per-clip max diff | mean prob diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    top5 = lambda p: np.sort(np.argsort(-p, axis=1)[:, :5], axis=1)  # noqa: E731
    for k, p in probs.items():
        d = np.abs(p - ref)
        print(f"| {k} | {(p.argmax(1) == labels).mean():.1%} | {(p.argmax(1) == ref.argmax(1)).mean():.1%} | "
              f"{(top5(p) == top5(ref)).all(1).mean():.1%} | {d.max():.2e} | {np.percentile(d.max(1), 99):.2e} | {d.mean():.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
