"""The late-fused MFCC-statistics classifier of the compact CNNs (``stats_head``)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from audiocnn.audio import Windowing
from audiocnn.features.mfcc import MFCC, masked_mfcc_stats, mfcc_stats
from audiocnn.models import create_model
from audiocnn.testing import tone
from audiocnn.train.stats_head import fit_stats_head, has_stats_head

SR = 16000
FREQS = (300.0, 1200.0, 4000.0)  # one class per frequency


def _waves(per_class: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    waves, labels = [], []
    for c, f in enumerate(FREQS):
        for _ in range(per_class):
            x = tone(f * rng.uniform(0.9, 1.1), rng.uniform(0.3, 0.5), SR, amplitude=rng.uniform(0.1, 0.8))
            waves.append((x + 0.01 * rng.standard_normal(len(x))).astype(np.float32))
            labels.append(c)
    return waves, np.array(labels)


def _model(stats_head: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("cnn6_lite", num_classes=len(FREQS), stats_head=stats_head).eval()


def test_unfitted_head_leaves_the_cnn_probabilities_unchanged():
    plain = _model(0)
    fused = _model(8)
    missing, unexpected = fused.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("head_") for k in missing)
    x = torch.from_numpy(np.stack([tone(f, 0.5, SR) for f in FREQS]))
    with torch.no_grad():
        a = torch.softmax(plain(x)["logits"], -1)
        b = torch.softmax(fused(x)["logits"], -1)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fit_makes_the_fused_probabilities_the_average_of_both_classifiers():
    model = _model(8)
    waves, y = _waves(6, 0)
    windowing = Windowing(0.5, 0.25)
    info = fit_stats_head(model, waves, y, windowing, seed=0)
    assert info["windows"] == len(waves) and info["C"] is not None
    assert float(model.head_share) == pytest.approx(0.5)

    test_waves, test_y = _waves(3, 7)
    x = torch.from_numpy(np.stack([np.pad(w, (0, 8000 - len(w))) for w in test_waves]))
    with torch.no_grad():
        fused = torch.softmax(model(x)["logits"], -1).numpy()
        model.head_share.fill_(0.0)
        cnn = torch.softmax(model(x)["logits"], -1).numpy()
        stats = model.head_statistics(x).double().numpy()
    z = (stats - model.head_mean.double().numpy()) / model.head_scale.double().numpy()
    logits = z @ model.head_weight.double().numpy().T + model.head_bias.double().numpy()
    head = np.exp(logits - logits.max(1, keepdims=True))
    head /= head.sum(1, keepdims=True)
    np.testing.assert_allclose(fused, 0.5 * cnn + 0.5 * head, rtol=1e-4, atol=1e-5)
    # the head alone separates the three frequencies of clips it was not fitted on
    assert (head.argmax(1) == test_y).mean() == 1.0


def test_fit_refuses_a_model_without_head():
    with pytest.raises(ValueError, match="no stats_head"):
        fit_stats_head(_model(0), [tone(440, 0.5, SR)], np.array([0]), Windowing(0.5))


def test_masked_statistics_skip_zero_padding():
    mfcc = MFCC(SR, n_mfcc=8)
    x = tone(700.0, 0.4, SR, amplitude=0.3)
    padded = torch.from_numpy(np.pad(x, (0, int(0.6 * SR))))[None]
    m, active = mfcc.with_activity(padded)
    frames = m.shape[-1]
    # the tone covers the first 40 % of the window: the padding is inactive
    assert 0.3 * frames < int(active.sum()) < 0.5 * frames
    stats = masked_mfcc_stats(m, active)
    static = m[0][:, active[0]]
    np.testing.assert_allclose(stats[0, :8].numpy(), static.mean(1).numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(stats[0, 24:32].numpy(), static.std(1, unbiased=False).numpy(), rtol=1e-5, atol=1e-4)
    # every frame active: the plain statistics
    everywhere = torch.ones_like(active)
    torch.testing.assert_close(masked_mfcc_stats(m, everywhere), mfcc_stats(m), rtol=1e-5, atol=1e-5)


def test_build_model_adds_the_head_for_single_label_data_only():
    from audiocnn.train import TrainConfig
    from audiocnn.train.loop import build_model

    config = TrainConfig(model="cnn6_lite", stats_head=12)
    assert build_model(config, 3, multilabel=False).stats_head == 12
    # the head draws no random numbers: the CNN starts from the weights it has without one
    torch.manual_seed(3)
    with_head = build_model(config, 3, multilabel=False).state_dict()
    torch.manual_seed(3)
    without = build_model(TrainConfig(model="cnn6_lite", stats_head=0), 3, multilabel=False).state_dict()
    assert all(torch.equal(v, with_head[k]) for k, v in without.items())
    assert not has_stats_head(build_model(config, 3, multilabel=True))
    assert not has_stats_head(build_model(TrainConfig(model="cnn6_lite", stats_head=0), 3, multilabel=False))
    assert not has_stats_head(build_model(TrainConfig(model="test_cnn", stats_head=12), 3, multilabel=False))


def test_trained_run_carries_the_fused_model_to_every_consumer(tone_data, tmp_path):
    from audiocnn.evaluate.protocol import run_experiment
    from audiocnn import Tagger
    from audiocnn.models import load_model
    from audiocnn.train import TrainConfig

    config = TrainConfig(model="cnn6_lite", epochs=1, batch_size=8, patience=0, progress=False, clip_seconds=0.5, stats_head=8)
    out = tmp_path / "run"
    metrics = run_experiment(tone_data, config, out, max_folds=1, baselines=())
    from audiocnn.evaluate.runner import training_summary

    alone = metrics["summary"]["accuracy_cnn_only"]["mean"]
    assert f"(accuracy {alone:.4f} ± 0.0000 for the CNN alone)" in training_summary(
        {"kind": "folds", "model": "cnn6_lite", "out": str(out), "result": metrics})[0]
    model, bundle = load_model(out / "fold_1" / "best.pth")
    result = json.loads((out / "fold_1" / "result.json").read_text())
    assert bundle.model_args["stats_head"] == 8 and float(model.head_share) == pytest.approx(result["stats_head_share"])
    assert bundle.model_args["head_features"] == config.stats_head_features > 0  # the default head is non-linear
    assert model.head_projection.abs().sum() > 0 and model.head_weight.shape[1] == config.stats_head_features
    assert result["n_test"] > 0 and 0.0 <= result["accuracy_cnn_only"] <= 1.0
    assert "The CNN alone: accuracy" in (out / "report.md").read_text()
    # tagging the fold's test files with the checkpoint alone gives the probabilities the run scored
    rows = list(csv.DictReader(open(out / "fold_1" / "predictions.csv")))
    tagger = Tagger.from_checkpoint(out / "fold_1" / "best.pth")
    from audiocnn.audio import load_audio

    for row in rows:
        p = tagger.predict_proba(load_audio(row["path"], sample_rate=tagger.sample_rate)[0])
        p = np.asarray(p).reshape(-1)
        expected = np.array([float(row[f"p_{c}"]) for c in tagger.labels])
        np.testing.assert_allclose(p, expected, rtol=1e-4, atol=1e-5)
    # the model folder (safetensors + config) holds the fitted head too
    folder_model, _ = load_model(out / "fold_1" / "model")
    torch.testing.assert_close(folder_model.head_weight, model.head_weight)
    torch.testing.assert_close(folder_model.head_projection, model.head_projection)


def test_tagging_data_with_an_explicit_head_is_refused(tmp_path):
    from audiocnn.evaluate.protocol import run_experiment
    from audiocnn.testing import make_tone_csv
    from audiocnn.train import TrainConfig

    data = make_tone_csv(tmp_path / "ml", multilabel=True)
    config = TrainConfig(model="cnn6_lite", model_kwargs={"stats_head": 8}, epochs=1, progress=False, clip_seconds=0.5)
    with pytest.raises(ValueError, match="single-label"):
        run_experiment(data, config, tmp_path / "run", max_folds=1, baselines=())


def test_choose_share_prefers_accuracy_then_log_loss():
    from audiocnn.train.stats_head import choose_share

    labels = np.array([0, 1, 1, 0])
    # the CNN is right everywhere and confident; the head is wrong on half: share 0 wins on log-loss
    cnn = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.8, 0.2]])
    head = np.array([[0.4, 0.6], [0.6, 0.4], [0.3, 0.7], [0.7, 0.3]])
    share, table = choose_share(cnn, head, labels)
    assert share == 0.0 and [r["share"] for r in table] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert table[0]["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.8, 0.8])))
    # the CNN is confidently wrong on one file the head gets right: an average fixes it
    cnn2 = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.8, 0.2]])
    head2 = np.array([[0.7, 0.3], [0.3, 0.7], [0.1, 0.9], [0.7, 0.3]])
    share2, table2 = choose_share(cnn2, head2, labels)
    assert table2[0]["accuracy"] == 0.75 and share2 > 0.0
    assert max(r["accuracy"] for r in table2) == 1.0


def test_fit_fused_head_chooses_the_share_on_validation_files_only():
    from audiocnn.train.stats_head import fit_fused_head

    model = _model(8)
    waves, y = _waves(6, 0)
    val_waves, val_y = _waves(2, 5)
    windowing = Windowing(0.5, 0.25)
    info = fit_fused_head(model, waves, y, val_waves, val_y, windowing, seed=0)
    assert [r["share"] for r in info["validation"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert float(model.head_share) == pytest.approx(info["share"])
    assert info["windows"] == len(waves) + len(val_waves)  # refitted on training + validation files
    # an untrained CNN guesses: on tones the head separates, the validation choice is a real share
    assert info["share"] > 0.0
    # without validation files: the equal average
    info0 = fit_fused_head(_model(8), waves, y, [], np.array([], dtype=int), windowing)
    assert info0["share"] == 0.5 and info0["validation"] == []


def test_fit_fused_head_runs_one_inner_cross_validation_and_keeps_its_choice(monkeypatch):
    from audiocnn.train import stats_head

    chosen = []
    real = stats_head._choose

    def spy(*args, **kwargs):
        chosen.append(real(*args, **kwargs))
        return chosen[-1]

    monkeypatch.setattr(stats_head, "_choose", spy)
    torch.manual_seed(0)
    model = create_model("cnn6_lite", num_classes=len(FREQS), stats_head=8, head_features=64).eval()
    waves, y = _waves(6, 0)
    val_waves, val_y = _waves(2, 5)
    info = stats_head.fit_fused_head(model, waves, y, val_waves, val_y, Windowing(0.5, 0.25), seed=0)
    assert len(chosen) == 1  # on the training part; the final fit on training + validation files reuses it
    (gamma, c), inner = chosen[0]
    assert (info["gamma"], info["C"], info["inner_log_loss"]) == (gamma, c, inner) and inner is not None
    assert info["windows"] == len(waves) + len(val_waves)


def _ring_statistics(n_files: int, windows: int, dim: int, seed: int):
    """Window statistics whose class is the radius of their first two values (inside or
    outside a ring): no straight line separates the classes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_files * windows, dim))
    owners = np.repeat(np.arange(n_files), windows)
    labels = (np.hypot(X[::windows, 0], X[::windows, 1]) > 1.18).astype(np.int64)  # about half each
    centre = X[::windows, :2].copy()
    X[:, :2] = centre[owners] + 0.05 * rng.standard_normal((len(owners), 2))  # a file's windows agree
    return X, owners, labels


@pytest.mark.parametrize("features", [0, 256])
def test_fourier_head_draws_the_curved_boundary_a_linear_head_cannot(features):
    from audiocnn.train.stats_head import _fit

    torch.manual_seed(0)
    model = create_model("cnn6_lite", num_classes=2, stats_head=1, head_features=features).eval()
    X, owners, labels = _ring_statistics(300, 2, 6, seed=0)
    info = _fit(model, X, owners, labels, seed=0, share=0.5, t0=0.0)
    Xt, ot, lt = _ring_statistics(200, 2, 6, seed=1)
    with torch.no_grad():
        pred = model.head_classify(torch.as_tensor(Xt, dtype=torch.float32)).argmax(-1).numpy()
    accuracy = float(np.mean(pred == lt[ot]))
    if features:
        assert info["gamma"] in (0.25, 1.0) and accuracy > 0.9
    else:
        assert info["gamma"] is None and accuracy < 0.75


def test_head_features_must_not_be_negative():
    with pytest.raises(ValueError, match="head_features"):
        create_model("cnn6_lite", num_classes=2, stats_head=4, head_features=-1)


def test_inner_choice_equals_independent_fits():
    """The inner cross-validation fits each split along increasing C from the previous solution;
    its log-losses and its choice are those of fitting every candidate from scratch."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    from audiocnn.train.stats_head import _choose

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(30), 3)  # 30 files of 3 windows
    y = np.repeat(np.arange(30) % 3, 3)
    Z = rng.normal(size=(90, 12)) + y[:, None] * 0.4
    widths = {0.5: Z * 0.5, 2.0: np.tanh(Z)}
    candidates = [(g, c) for g in widths for c in (0.1, 1.0, 10.0)]
    choice, loss = _choose(candidates, (2.0, 1.0), widths.__getitem__, y, groups, seed=0)

    splits = list(StratifiedGroupKFold(3, shuffle=True, random_state=0).split(y, y, groups))
    cold = []
    for g, c in candidates:
        total = 0.0
        for tr, va in splits:
            p = LogisticRegression(C=c, max_iter=3000).fit(widths[g][tr], y[tr]).predict_proba(widths[g][va])
            total -= np.log(np.maximum(p[np.arange(len(va)), y[va]], 1e-12)).sum()
        cold.append(total / len(y))
    assert choice == candidates[int(np.argmin(cold))]
    assert loss == pytest.approx(min(cold), abs=1e-3)


def test_head_fits_run_on_one_blas_thread(monkeypatch):
    """The head's regressions are small; they run with every BLAS/OpenMP pool limited to one
    thread (several threads made the whole fit up to ten times slower beside PyTorch's)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    seen = []
    fit = LogisticRegression.fit

    def recording_fit(self, X, y, *args, **kwargs):
        seen.append(max(pool["num_threads"] for pool in threadpool_info()))
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    waves, labels = _waves(per_class=4, seed=0)
    fit_stats_head(_model(8), waves, labels, Windowing(0.5, 0.25))
    assert len(seen) > 1  # the inner cross-validation's fits and the final one
    assert set(seen) == {1}
