"""Streaming mAP / AUC / d' from score histograms: close to scikit-learn, mergeable, summed over
DDP ranks."""

import numpy as np
import pytest
import torch.multiprocessing as mp
from sklearn.metrics import average_precision_score, roc_auc_score

from audiocnn.evaluate import tagging_metrics
from audiocnn.evaluate.streaming import StreamingAccuracy, StreamingTaggingMetrics


def _tagger_like(n=6000, classes=30, seed=0):
    """Sparse multi-hot targets and sigmoid scores crowded near 0, as a trained tagger gives."""
    rng = np.random.default_rng(seed)
    t = (rng.random((n, classes)) < rng.uniform(0.005, 0.1, classes)).astype(np.int64)
    t[0] = 1  # every class has a positive
    logit = rng.normal(-5, 2, (n, classes)) + t * rng.normal(4, 2, (n, classes))
    return t, 1 / (1 + np.exp(-logit))


def test_close_to_sklearn_on_tagger_like_scores():
    t, p = _tagger_like()
    m = StreamingTaggingMetrics(t.shape[1], bins=4096)
    for s in range(0, len(t), 700):  # batches of any size
        m.update(t[s : s + 700], p[s : s + 700])
    ap_exact = np.array([average_precision_score(t[:, c], p[:, c]) for c in range(t.shape[1])])
    auc_exact = np.array([roc_auc_score(t[:, c], p[:, c]) for c in range(t.shape[1])])
    assert np.abs(m.average_precision() - ap_exact).max() < 2e-3
    assert np.abs(m.roc_auc() - auc_exact).max() < 1e-4
    exact = tagging_metrics(t, p)
    got = m.compute()
    assert abs(got["mAP"] - exact["mAP"]) < 1e-3
    assert abs(got["auc"] - exact["auc"]) < 1e-5
    assert abs(got["d_prime"] - exact["d_prime"]) < 1e-3
    assert got["clips"] == len(t)
    coarse = StreamingTaggingMetrics(t.shape[1], bins=64)
    coarse.update(t, p)
    assert abs(coarse.compute()["mAP"] - exact["mAP"]) > abs(got["mAP"] - exact["mAP"])  # bins matter


def test_scores_on_distinct_bins_are_exact():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, (200, 3))
    p = rng.choice(np.linspace(0.05, 0.95, 10), size=(200, 3))  # ties, each value in its own bin
    m = StreamingTaggingMetrics(3)
    m.update(t, p)
    for c in range(3):
        assert m.average_precision()[c] == pytest.approx(average_precision_score(t[:, c], p[:, c]), abs=1e-12)
        assert m.roc_auc()[c] == pytest.approx(roc_auc_score(t[:, c], p[:, c]), abs=1e-12)


def test_merge_equals_one_pass_and_undefined_classes_are_nan():
    t, p = _tagger_like(n=1000, classes=5)
    t[:, 4] = 0
    whole, a, b = (StreamingTaggingMetrics(5) for _ in range(3))
    whole.update(t, p)
    a.update(t[:400], p[:400])
    b.update(t[400:], p[400:])
    a.merge(b)
    assert np.array_equal(a.pos, whole.pos) and np.array_equal(a.neg, whole.neg)
    assert np.isnan(whole.average_precision()[4]) and np.isnan(whole.roc_auc()[4])
    with pytest.raises(ValueError, match="must both be"):
        whole.update(t[:, :3], p)


def _rank(rank, world, path, port):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    t, p = _tagger_like(n=600, classes=4)
    m = StreamingTaggingMetrics(4)
    m.update(t[rank::world], p[rank::world])
    acc = StreamingAccuracy()
    acc.update(np.arange(10) % 3, np.zeros(10) if rank else np.arange(10) % 3)
    res = m.all_reduce().compute()
    np.save(f"{path}/rank{rank}.npy", np.array([res["mAP"], res["auc"], res["clips"], acc.all_reduce().compute()["accuracy"]]))
    dist.destroy_process_group()


@pytest.mark.slow
def test_all_reduce_over_two_gloo_ranks(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(2, str(tmp_path), port), nprocs=2, join=True)
    t, p = _tagger_like(n=600, classes=4)
    one = StreamingTaggingMetrics(4)
    one.update(t, p)
    ref = one.compute()
    for r in range(2):
        got = np.load(tmp_path / f"rank{r}.npy")
        assert got[0] == pytest.approx(ref["mAP"], abs=1e-12) and got[1] == pytest.approx(ref["auc"], abs=1e-12)
        assert got[2] == 600
        assert got[3] == pytest.approx((10 + 4) / 20)  # rank 0 all right, rank 1 right where y == 0


def test_evaluate_packed_equals_the_exact_metrics(tmp_path):
    import torch

    from audiocnn.data.shards import PackOptions, SyntheticSource, pack
    from audiocnn.evaluate.streaming import evaluate_packed
    from audiocnn.models import create_model

    torch.manual_seed(0)
    model = create_model("test_cnn", num_classes=4).eval()
    src = SyntheticSource(40, seconds=0.3, num_classes=4, seed=1)
    idx = pack(src, tmp_path / "s", PackOptions(sample_rate=model.sample_rate, shard_size=16, shuffle=False), progress=False)
    got = evaluate_packed(model, idx.root, batch_size=8, clip_seconds=0.3)
    x = torch.from_numpy(np.stack([src.load(i, model.sample_rate) for i in range(40)]))
    t = np.zeros((40, 4))
    for i in range(40):
        t[i, src.record(i)["target"]] = 1
    with torch.no_grad():
        p = torch.sigmoid(model(x)["logits"]).numpy()
    exact = tagging_metrics(t, p)
    assert got["clips"] == 40
    assert got["mAP"] == pytest.approx(exact["mAP"], abs=2e-3) and got["auc"] == pytest.approx(exact["auc"], abs=1e-3)
