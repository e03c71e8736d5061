"""``--recipe auto``: the choice on an inner validation split of the training folds, scored on
the test fold."""

import json

import pytest

from audiocnn.cli import main
from audiocnn.evaluate.auto_recipe import METHODS, choose, summarize_choices
from audiocnn.evaluate.protocol import _fold_dirname, run_experiment
from audiocnn.testing import make_tone_csv
from audiocnn.train.runlock import RunMismatchError


def test_choose_takes_the_best_inner_score_and_prefers_the_cnn_on_a_tie():
    assert choose({"cnn": 0.5, "mfcc_svm": 0.7, "random_cnn_svm": 0.6}) == "mfcc_svm"
    assert choose({"cnn": 0.7, "mfcc_svm": 0.7, "random_cnn_svm": 0.7}) == "cnn"
    assert choose({"cnn": 0.2, "mfcc_svm": 0.9, "random_cnn_svm": 0.9}) == "mfcc_svm"
    assert choose({"cnn": 0.2, "mfcc_svm": None, "random_cnn_svm": 0.3}) == "random_cnn_svm"  # a failed baseline
    with pytest.raises(ValueError, match="no method"):
        choose({})


def test_the_fold_result_is_the_chosen_methods_test_score():
    rec = summarize_choices(
        ["a", "b"],
        inner=[{"cnn": 0.9, "mfcc_svm": 0.5}, {"cnn": 0.4, "mfcc_svm": 0.6}],
        outer=[{"cnn": 0.8, "mfcc_svm": 0.95}, {"cnn": 0.99, "mfcc_svm": 0.7}],
        inner_sizes=[(8, 2), (8, 2)],
    )
    assert [f["choice"] for f in rec["folds"]] == ["cnn", "mfcc_svm"]
    assert [f["accuracy"] for f in rec["folds"]] == [0.8, 0.7]  # the test score never picks
    assert rec["summary"]["accuracy"]["mean"] == pytest.approx(0.75)
    assert rec["chosen"] == {"cnn": 1, "mfcc_svm": 1, "random_cnn_svm": 0}
    with pytest.raises(ValueError):
        summarize_choices(["a"], inner=[{}, {}], outer=[{}], inner_sizes=[(1, 1)])


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    from audiocnn.train import TrainConfig

    root = tmp_path_factory.mktemp("auto")
    data = make_tone_csv(root / "data", per_class=10, folds=2)
    config = TrainConfig(model="test_cnn", epochs=2, batch_size=8, lr=3e-3, patience=0, progress=False, clip_seconds=0.5)
    out = root / "run"
    return data, config, out, run_experiment(data, config, out, recipe="auto", baselines=())


def test_auto_run_chooses_inside_the_training_folds_and_reports_it(auto_run):
    data, _, out, metrics = auto_run
    rec = metrics["recipe"]
    assert rec["recipe"] == "auto" and len(rec["folds"]) == len(metrics["folds"]) == 2
    # both baselines are scored on the outer folds even though none was asked for
    assert set(metrics["baselines"]) == {"mfcc_svm", "random_cnn_svm"}
    for i, (f, model_fold) in enumerate(zip(rec["folds"], metrics["folds"])):
        res = json.loads((out / _fold_dirname(f["fold"]) / "result.json").read_text())
        inner_tr, inner_va = set(res["auto_inner"]["train"]), set(res["auto_inner"]["val"])
        assert inner_tr and inner_va and not inner_tr & inner_va
        assert len(inner_tr) + len(inner_va) == res["n_train"] + res["n_val"]
        assert (f["n_inner_train"], f["n_inner_val"]) == (len(inner_tr), len(inner_va))
        # the choice follows the inner scores alone ...
        best = max(v for v in f["inner"].values() if v is not None)
        assert f["choice"] == next(m for m in METHODS if f["inner"].get(m) == best)
        # ... and the fold's result is that method's score on the test fold
        outer = {"cnn": model_fold["accuracy"], **{b: v["folds"][i]["accuracy"] for b, v in metrics["baselines"].items()}}
        assert f["outer"] == pytest.approx(outer)
        assert f["accuracy"] == pytest.approx(outer[f["choice"]])
    report = (out / "report.md").read_text()
    assert "## Recipe auto" in report and f"{rec['summary']['accuracy']['mean']:.4f}" in report
    assert json.loads((out / "run.json").read_text())["recipe"] == "auto"


def test_inner_validation_files_are_training_files_of_the_fold(auto_run):
    from audiocnn.data import load_manifest, make_folds

    data, config, out, _ = auto_run
    manifest = load_manifest(data)
    for name, train_idx, test_idx in make_folds(manifest, None, seed=config.seed):
        res = json.loads((out / _fold_dirname(name) / "result.json").read_text())
        inner = set(res["auto_inner"]["train"]) | set(res["auto_inner"]["val"])
        assert inner == set(int(i) for i in train_idx) and not inner & set(int(i) for i in test_idx)


def test_resume_with_another_recipe_is_refused(auto_run, tmp_path):
    import shutil

    data, config, out, _ = auto_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    with pytest.raises(RunMismatchError, match="recipe"):
        run_experiment(data, config, copy, resume=True)


def test_auto_refuses_tagging_data_and_no_baselines(tmp_path, capsys):
    from audiocnn.train import TrainConfig

    tags = make_tone_csv(tmp_path / "tags", per_class=4, folds=2, multilabel=True)
    with pytest.raises(ValueError, match="single-label"):
        run_experiment(tags, TrainConfig(model="test_cnn", epochs=1, progress=False), tmp_path / "r", recipe="auto")
    data = make_tone_csv(tmp_path / "data", per_class=4, folds=2)
    code = main(["train", "--data", str(data), "--model", "test_cnn", "--epochs", "1", "--recipe", "auto",
                 "--no-baselines", "--out", str(tmp_path / "r2")])
    assert code == 2 and "--no-baselines" in capsys.readouterr().err
