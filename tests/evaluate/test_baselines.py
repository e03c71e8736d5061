"""Baselines beside the trained model: the model's test files, tuning on the training folds only,
in metrics.json, report.md and the command's output, and off with --no-baselines."""

import dataclasses
import json

import numpy as np
import pytest

import audiocnn.backends.estimators as estimators
from audiocnn.cli import main
from audiocnn.data import AudioCache, load_manifest, make_folds
from audiocnn.evaluate.baselines import baseline_shortfalls, files_digest, parse_baselines, score_baselines
from audiocnn.evaluate.protocol import run_experiment
from audiocnn.evaluate.report import baseline_section
from audiocnn.testing import make_tone_csv
from audiocnn.train import TrainConfig


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    # 3 classes x 9 clips, predefined folds 1-3 (3 clips of each class per fold)
    return make_tone_csv(tmp_path_factory.mktemp("tones"), per_class=9)


@pytest.fixture(scope="module")
def manifest_and_cache(tones):
    m = load_manifest(tones)
    cache = AudioCache(16000)
    assert not cache.preload([it.path for it in m.items], progress=False)
    return m, cache


@pytest.fixture(scope="module")
def run(tones, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    config = TrainConfig(model="test_cnn", epochs=1, batch_size=8, patience=0, progress=False, clip_seconds=0.5)
    return out, run_experiment(tones, config, out)


def test_baseline_is_scored_on_the_models_test_files(run):
    out, metrics = run
    b = metrics["baselines"]["mfcc_svm"]
    assert [f["fold"] for f in b["folds"]] == [f["fold"] for f in metrics["folds"]]
    for model_fold, base_fold in zip(metrics["folds"], b["folds"]):
        result = json.loads((out / f"fold_{model_fold['fold'].removeprefix('fold')}" / "result.json").read_text())
        assert base_fold["test_sha1"] == files_digest(result["test_files"])
        assert base_fold["n_test"] == model_fold["n_test"] == len(result["test_files"])
        # the baseline fits on the model's training and validation parts together, nothing else
        assert base_fold["n_train"] == model_fold["n_train"] + model_fold["n_val"]
        assert np.asarray(base_fold["confusion_matrix"]).sum() == model_fold["n_test"]


def test_metrics_json_and_report_show_the_baselines(run):
    out, metrics = run
    saved = json.loads((out / "metrics.json").read_text())
    s = saved["baselines"]["mfcc_svm"]["summary"]
    assert s["n_folds"] == 3 and 0.0 <= s["accuracy"]["std"] <= s["accuracy"]["mean"] <= 1.0
    assert {"C", "kernel"} <= set(saved["baselines"]["mfcc_svm"]["folds"][0]["best_params"])
    report = (out / "report.md").read_text()
    assert "## Baselines (the same test folds)" in report and "| MFCC + SVM |" in report
    assert f"MFCC + SVM {s['accuracy']['mean']:.4f} ± {s['accuracy']['std']:.4f}" in report
    # the warning follows the rule: present exactly when the model's mean does not beat the baseline's
    loses = saved["summary"]["accuracy"]["mean"] <= s["accuracy"]["mean"]
    assert ("**Warning:** test_cnn does not beat the MFCC + SVM baseline" in report) == loses


def test_tuning_never_sees_the_test_fold(manifest_and_cache, monkeypatch):
    m, cache = manifest_and_cache
    folds = make_folds(m)[:1]
    name, train_idx, test_idx = folds[0]
    seen = {}
    real_nested_cv = estimators.nested_cv
    real_fit = estimators.StandardScaler.fit
    fitted = []

    def spy_nested_cv(X, *a, **k):
        seen["X"] = np.asarray(X)
        return real_nested_cv(X, *a, **k)

    def spy_fit(self, X, y=None, **k):
        fitted.append(np.array(X, copy=True))
        return real_fit(self, X, y, **k)

    monkeypatch.setattr(estimators, "nested_cv", spy_nested_cv)
    monkeypatch.setattr(estimators.StandardScaler, "fit", spy_fit)
    original = score_baselines(m, cache, folds)["mfcc_svm"]["folds"][0]

    rows = lambda A: {tuple(np.round(r, 5)) for r in A}  # noqa: E731
    train_rows, test_rows = rows(seen["X"][train_idx]), rows(seen["X"][test_idx])
    assert fitted and len(fitted) > 3  # the inner-CV fits and the refit
    for X in fitted:
        assert rows(X) <= train_rows and not rows(X) & test_rows

    # scrambled test labels: the same hyper-parameters, the same predictions, another score
    rotate = {"low": "mid", "mid": "high", "high": "low"}
    test_set = set(np.asarray(test_idx).tolist())
    items = tuple(dataclasses.replace(it, labels=(rotate[it.labels[0]],)) if i in test_set else it for i, it in enumerate(m.items))
    scrambled = score_baselines(dataclasses.replace(m, items=items), cache, folds)["mfcc_svm"]["folds"][0]
    assert scrambled["best_params"] == original["best_params"]
    assert scrambled["test_sha1"] == original["test_sha1"]
    assert scrambled["accuracy"] != original["accuracy"]
    assert np.asarray(scrambled["confusion_matrix"]).sum(axis=0).tolist() == np.asarray(original["confusion_matrix"]).sum(axis=0).tolist()


def test_random_cnn_baseline_and_the_command_output(tones, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(tones), "--model", "test_cnn", "--epochs", "1", "--batch-size", "8", "--max-folds", "1",
                 "--clip-seconds", "0.5", "--out", str(out), "--no-progress", "--baselines", "random-cnn"])
    assert code == 0
    printed = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert list(m["baselines"]) == ["mfcc_svm", "random_cnn_svm"]
    r = m["baselines"]["random_cnn_svm"]
    assert r["summary"]["n_folds"] == 1 and "random weights" in r["description"]
    for b in m["baselines"].values():
        assert f"baseline {b['title']}: accuracy {b['summary']['accuracy']['mean']:.4f}" in printed
    assert ("warning: test_cnn does not beat" in printed) == bool(baseline_shortfalls(m))
    assert "| random CNN + SVM |" in (out / "report.md").read_text()


def test_no_baselines_removes_them(tones, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(tones), "--model", "test_cnn", "--epochs", "1", "--batch-size", "8", "--max-folds", "1",
                 "--clip-seconds", "0.5", "--out", str(out), "--no-progress", "--no-baselines"])
    assert code == 0
    assert "  baseline " not in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["baselines"] == {}
    report = (out / "report.md").read_text()
    assert "Not scored (`--no-baselines`)" in report and "MFCC + SVM" not in report
    code = main(["train", "--data", str(tones), "--out", str(tmp_path / "x"), "--no-baselines", "--baselines", "random-cnn"])
    assert code == 2 and "--no-baselines" in capsys.readouterr().err


def test_parse_baselines():
    assert parse_baselines("mfcc-svm") == ("mfcc_svm",)
    assert parse_baselines("random-cnn") == parse_baselines("mfcc-svm, random-cnn") == ("mfcc_svm", "random_cnn_svm")
    with pytest.raises(ValueError, match="mfcc-svm, random-cnn"):
        parse_baselines("mfcc-svm,knn")
    with pytest.raises(SystemExit):
        main(["train", "--data", "x.csv", "--baselines", "knn"])


def _metrics(model_mean, base_mean, task="classification"):
    key = "mAP" if task == "tagging" else "accuracy"
    summ = lambda v: {key: {"mean": v, "std": 0.01}}  # noqa: E731
    return {"task": task, "config": {"model": "m"}, "summary": summ(model_mean), "folds": [],
            "baselines": {"mfcc_svm": {"title": "MFCC + SVM", "summary": summ(base_mean), "folds": []}}}


def test_shortfall_rule():
    assert baseline_shortfalls(_metrics(0.91, 0.90)) == []
    for model, base in ((0.90, 0.90), (0.80, 0.90)):
        (line,) = baseline_shortfalls(_metrics(model, base))
        assert "m does not beat the MFCC + SVM baseline" in line and f"{base:.4f}" in line
    assert len(baseline_shortfalls(_metrics(0.5, 0.6, task="tagging"))) == 1
    assert baseline_shortfalls({**_metrics(0.5, 0.6), "baselines": {}}) == []


def test_tagging_data_and_a_failing_baseline(tmp_path, manifest_and_cache, monkeypatch):
    tagging = load_manifest(make_tone_csv(tmp_path / "ml", per_class=3, multilabel=True))
    assert tagging.multilabel and score_baselines(tagging, None, []) == {}
    assert "single-label classification only" in "\n".join(baseline_section({"task": "tagging", "baselines": {}}))

    m, cache = manifest_and_cache

    def boom(*a, **k):
        raise RuntimeError("no SVM today")

    monkeypatch.setattr(estimators, "nested_cv", boom)
    res = score_baselines(m, cache, make_folds(m))
    assert res["mfcc_svm"]["error"] == "RuntimeError: no SVM today"
    metrics = {**_metrics(0.5, 0.6), "baselines": res}
    assert baseline_shortfalls(metrics) == []
    assert "failed: RuntimeError: no SVM today" in "\n".join(baseline_section(metrics))
