"""``audiocnn evaluate --dataset audioset --split eval``: the evaluation segments alone, scored
per class and overall (mAP, AUC, d-prime), on a small AudioSet-shaped folder written here in the
released format; the numbers are checked against scikit-learn on the model's own outputs."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score

import audiocnn
from audiocnn.cli import main
from audiocnn.evaluate.audioset import evaluate_audioset
from audiocnn.models import ModelBundle, save_checkpoint
from audiocnn.testing import tone, write_wav

SR = 32000
# index, mid, display_name (one with a comma, quoted as in the released file)
CLASSES = [("/m/09x0r", "Speech"), ("/m/068hy", "Domestic animals, pets"), ("/m/04rlf", "Music")]
HEADER = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids=9, num_segs=9, num_unique_labels=3, num_positive_labels=12\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
)
# (ytid, start, end, mids, tone Hz)
EVAL = [
    ("--PJHxphWEs", "30.000", "40.000", "/m/09x0r,/m/068hy", 300),
    ("-0RWZT-miFs", "420.000", "430.000", "/m/04rlf", 900),
    ("-1nilez17Dg", "0.000", "10.000", "/m/068hy", 1500),
    ("-2PDE7hUArE", "10.000", "20.000", "/m/09x0r", 2100),
    ("-3UBKBQ8F7k", "0.000", "10.000", "/m/04rlf,/m/09x0r", 2700),
    ("-4gqARaEJE0", "5.000", "15.000", "/m/068hy,/m/04rlf", 3300),
    ("-5s1yq5MhJg", "0.000", "10.000", "/m/09x0r", 3900),
    ("-6blacklist", "0.000", "10.000", "/m/04rlf", 4500),  # black-listed
    ("-7missing00", "0.000", "10.000", "/m/09x0r", 0),  # never downloaded
]
TRAIN = [("--trainclip", "0.000", "10.000", "/m/04rlf", 600)]


def _segments(rows) -> str:
    return HEADER + "".join(f'{y}, {s}, {e}, "{m}"\n' for y, s, e, m, _ in rows)


@pytest.fixture(scope="module")
def audioset(tmp_path_factory):
    root = tmp_path_factory.mktemp("audioset") / "AudioSet"
    meta = root / "metadata"
    meta.mkdir(parents=True)
    with open(meta / "class_labels_indices.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "mid", "display_name"])
        w.writerows([i, mid, name] for i, (mid, name) in enumerate(CLASSES))
    (meta / "eval_segments.csv").write_text(_segments(EVAL))
    (meta / "balanced_train_segments.csv").write_text(_segments(TRAIN))
    rng = np.random.default_rng(0)
    for i, (ytid, start, end, _, hz) in enumerate(EVAL + TRAIN):
        if not hz:
            continue
        subset = "balanced_train_segments" if ytid == "--trainclip" else "eval_segments"
        name = f"{ytid}_{start}_{end}.wav" if i == 1 else f"Y{ytid}.wav"  # both namings of the downloaders
        x = tone(hz, 1.0 + 0.1 * i, SR) + 0.05 * rng.standard_normal(int((1.0 + 0.1 * i) * SR)).astype(np.float32)
        write_wav(root / "audios" / subset / name, x, SR)
    (root / "blacklist.txt").write_text("# clips to skip\n-6blacklist\n")
    return root


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(5)
    return audiocnn.create_model("test_cnn", num_classes=len(CLASSES)).eval()


@pytest.fixture(scope="module")
def official_style(net, tmp_path_factory):
    """The weights alone, as the PANNs releases store them (no class names)."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    torch.save({"model": net.state_dict(), "iteration": 0}, path)
    return path


def _expected(net, root):
    """Probabilities by hand (each clip zero-padded to the 10-s window, as PANNs pads it) and
    the metrics by scikit-learn, over the scored clips (not black-listed, present)."""
    import soundfile as sf

    ys, ps = [], []
    mids = [m for m, _ in CLASSES]
    for i, (ytid, start, end, labels, hz) in enumerate(EVAL):
        if not hz or ytid == "-6blacklist":
            continue
        name = f"{ytid}_{start}_{end}.wav" if i == 1 else f"Y{ytid}.wav"
        x, _ = sf.read(str(root / "audios" / "eval_segments" / name), dtype="float32")
        x = np.pad(x, (0, 10 * SR - len(x)))
        with torch.no_grad():
            ps.append(torch.sigmoid(net(torch.from_numpy(x)[None])["logits"][0]).numpy())
        ys.append([float(m in labels.split(",")) for m in mids])
    y, p = np.array(ys), np.array(ps)
    aps = [average_precision_score(y[:, c], p[:, c]) for c in range(len(CLASSES))]
    aucs = [roc_auc_score(y[:, c], p[:, c]) for c in range(len(CLASSES))]
    return y, p, aps, aucs


def test_the_eval_split_alone_per_class_and_overall(net, official_style, audioset, tmp_path):
    res = evaluate_audioset(official_style, audioset, split="eval", blacklist=audioset / "blacklist.txt",
                            model="test_cnn", skip_bad=True, out_dir=tmp_path / "out")
    y, _, aps, aucs = _expected(net, audioset)
    assert res["clips"] == len(y) == 7 and res["blacklisted"] == 1
    assert [b["path"].endswith("Y-7missing00.wav") for b in res["bad_files"]] == [True]
    assert res["bad_files"][0]["error"]["type"] == "file_not_found"
    assert res["mAP"] == pytest.approx(np.mean(aps), abs=1e-5)
    assert res["auc"] == pytest.approx(np.mean(aucs), abs=1e-5)
    assert res["d_prime"] == pytest.approx(math.sqrt(2) * norm.ppf(np.mean(aucs)), abs=1e-4)
    per_class = res["per_class"]
    assert [(r["mid"], r["name"]) for r in per_class] == CLASSES
    assert [r["positives"] for r in per_class] == [int(v) for v in y.sum(0)]
    np.testing.assert_allclose([r["ap"] for r in per_class], aps, atol=1e-5)
    np.testing.assert_allclose([r["auc"] for r in per_class], aucs, atol=1e-5)
    np.testing.assert_allclose([r["d_prime"] for r in per_class], [math.sqrt(2) * norm.ppf(a) for a in aucs], atol=1e-4)
    # the files: the same numbers in JSON and CSV, and a summary
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["mAP"] == pytest.approx(res["mAP"]) and saved["split"] == "eval"
    with open(tmp_path / "out" / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [n for _, n in CLASSES]
    np.testing.assert_allclose([float(r["ap"]) for r in rows], aps, atol=1e-5)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert f"{res['mAP']:.4f}" in summary and "Domestic animals, pets" in summary


def test_a_trained_checkpoint_is_matched_by_class_name(net, audioset, tmp_path):
    """Outputs stored in another order than the class index, with their names in the bundle."""
    order = [2, 0, 1]
    permuted = audiocnn.create_model("test_cnn", num_classes=3).eval()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    head = [k for k in sd if sd[k].shape[:1] == (3,)]
    assert head, "the classifier of test_cnn has 3 output rows"
    for k in head:
        sd[k] = sd[k][order]
    permuted.load_state_dict(sd)
    names = [CLASSES[i][1] for i in order]
    ckpt = save_checkpoint(permuted, tmp_path / "trained.pth", ModelBundle.for_model(permuted, labels=names))
    res = evaluate_audioset(ckpt, audioset, blacklist=audioset / "blacklist.txt", skip_bad=True)
    _, _, aps, _ = _expected(net, audioset)
    np.testing.assert_allclose([r["ap"] for r in res["per_class"]], aps, atol=1e-5)


def test_the_segment_file_itself_and_missing_clips(official_style, audioset):
    res = evaluate_audioset(official_style, audioset / "metadata" / "eval_segments.csv", model="test_cnn",
                            blacklist=audioset / "blacklist.txt", skip_bad=True)
    assert res["clips"] == 7
    from audiocnn.data import BadDataError

    with pytest.raises(BadDataError, match="Y-7missing00.wav"):
        evaluate_audioset(official_style, audioset, model="test_cnn")
    with pytest.raises(ValueError, match=r"split\(s\) \['test'\] not found"):
        evaluate_audioset(official_style, audioset, split="test", model="test_cnn")


def test_a_checkpoint_whose_outputs_do_not_match_the_index(audioset, tmp_path):
    other = audiocnn.create_model("test_cnn", num_classes=5)
    path = tmp_path / "five.pth"
    torch.save({"model": other.state_dict()}, path)
    with pytest.raises(ValueError, match="5 outputs but class_labels_indices.csv has 3 classes"):
        evaluate_audioset(path, audioset, model="test_cnn", skip_bad=True)


def test_cli(official_style, audioset, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["evaluate", "--dataset", "audioset", "--split", "eval", "--data", str(audioset), "--checkpoint", str(official_style),
            "--model", "test_cnn", "--blacklist", str(audioset / "blacklist.txt"), "--skip-bad", "--out", str(out)]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.split("metrics:")[0])
    assert printed["clips"] == 7 and printed["blacklisted"] == 1 and printed["skipped"] == 1
    assert {p.name for p in out.iterdir()} >= {"metrics.json", "per_class.csv", "summary.md"}
    # without --skip-bad the missing clip stops the run, named
    assert main(args[:-3] + ["--out", str(tmp_path / "x")]) == 1
    assert "Y-7missing00.wav" in capsys.readouterr().err
    # --split on data that is not AudioSet is a usage error
    csv_data = tmp_path / "meta.csv"
    csv_data.write_text("filename,label\na.wav,x\n")
    assert main(["evaluate", "--data", str(csv_data), "--checkpoint", str(official_style), "--split", "eval"]) == 2
