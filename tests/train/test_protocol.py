"""End-to-end training runs on tiny tone data with the test-size model."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

import audiocnn
import audiocnn.data
from audiocnn.audio import Windowing, windows_of
from audiocnn.evaluate import protocol
from audiocnn.evaluate.protocol import evaluate_checkpoint, run_experiment
from audiocnn.train import TrainConfig


def test_end_to_end_report_and_checkpoint(tiny_run, tone_data, tmp_path):
    out, m = tiny_run
    for f in ("metrics.json", "report.md", "confusion_matrix.png", "learning_curves.png"):
        assert (out / f).stat().st_size > 0, f
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1"):
        assert set(saved["summary"][key]) >= {"mean", "std"}
        assert 0.0 <= saved["summary"][key]["mean"] <= 1.0
    assert len(saved["folds"]) == 3 and saved["config"]["model"] == "test_cnn"
    assert np.asarray(saved["confusion_matrix"]).sum() == 18  # every clip tested exactly once
    report = (out / "report.md").read_text()
    assert "| fold |" in report and "Wall time" in report and "Bad files skipped (0)" in report

    # the best checkpoint of each fold loads with its bundle: labels, task, training config
    ckpt = out / "fold_1" / "best.pth"
    model, bundle = audiocnn.models.load_model(ckpt)
    assert model.info.name == "test_cnn" and model.num_classes == 3
    assert bundle.labels == ("high", "low", "mid") and bundle.task == "single-label"
    assert bundle.training["config"]["epochs"] == 2

    # `evaluate` on the fold's test files reproduces the fold's accuracy
    ev = evaluate_checkpoint(ckpt, tone_data, fold="1", out_dir=tmp_path / "ev")
    assert ev["n"] == 6
    assert ev["accuracy"] == pytest.approx(m["folds"][0]["accuracy"])
    assert (tmp_path / "ev" / "metrics.json").exists()

    # every fold lists its test files with the true label, the prediction and the class scores
    import csv

    rows = list(csv.DictReader((out / "fold_1" / "predictions.csv").open()))
    assert len(rows) == 6 and list(rows[0])[:3] == ["path", "label", "predicted"]
    assert [k for k in rows[0] if k.startswith("p_")] == ["p_high", "p_low", "p_mid"]
    for r in rows:
        p = {c: float(r[f"p_{c}"]) for c in ("high", "low", "mid")}
        assert sum(p.values()) == pytest.approx(1.0, abs=1e-4)
        assert r["predicted"] == max(p, key=p.get)
    accuracy = np.mean([r["predicted"] == r["label"] for r in rows])
    assert accuracy == pytest.approx(m["folds"][0]["accuracy"])


def test_evaluate_maps_labels_by_name_and_rejects_unknown(tiny_run, tone_data, tmp_path):
    ckpt = tiny_run[0] / "fold_1" / "best.pth"
    # the same files under a CSV that lists only two classes: class indices differ from the
    # checkpoint's, scores must still be computed against the checkpoint's label order
    full = evaluate_checkpoint(ckpt, tone_data)
    lines = tone_data.read_text().splitlines()
    lines[1:] = [f"{tone_data.parent}/{ln}" for ln in lines[1:]]  # absolute: the CSVs below are elsewhere
    sub = tmp_path / "sub.csv"
    sub.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if "/high_" not in ln]) + "\n")
    part = evaluate_checkpoint(ckpt, sub)
    assert part["n"] == 12
    full_cm = np.asarray(full["confusion_matrix"])
    assert np.array_equal(np.asarray(part["confusion_matrix"])[1:], full_cm[1:])  # rows low, mid
    bad = tmp_path / "other.csv"
    bad.write_text(lines[0] + "\n" + lines[1].replace("high", "squeak", 1).replace(",high,", ",squeak,") + "\n")
    bad.write_text("filename,label,fold\n" + lines[1].split(",")[0] + ",squeak,1\n")
    with pytest.raises(ValueError, match="squeak"):
        evaluate_checkpoint(ckpt, bad)


def test_model_selection_never_sees_the_test_fold(tone_csv, tiny_config, tmp_path, monkeypatch):
    folds_seen, eval_paths = [], []
    real_make_folds, real_dataset = audiocnn.data.make_folds, audiocnn.data.ClipDataset

    def spy_make_folds(*a, **k):
        folds = real_make_folds(*a, **k)
        folds_seen.extend(folds)
        return folds

    class SpyDataset(real_dataset):
        def __init__(self, manifest, cache, clip_seconds, train, seed=0):
            super().__init__(manifest, cache, clip_seconds, train, seed)
            eval_paths.append((train, {str(it.path) for it in manifest.items}))

    monkeypatch.setattr(audiocnn.data, "make_folds", spy_make_folds)
    monkeypatch.setattr(audiocnn.data, "ClipDataset", SpyDataset)
    m = run_experiment(tone_csv, dataclasses.replace(tiny_config, val_fraction=0.2), tmp_path / "run")
    from audiocnn.data import load_manifest

    man = load_manifest(tone_csv)
    assert len(folds_seen) == 3 and len(eval_paths) == 6  # per fold: one train, one validation set
    for (name, _, test_idx), (tr_flag, tr_paths), (va_flag, va_paths) in zip(folds_seen, eval_paths[0::2], eval_paths[1::2]):
        test_paths = {str(man.items[i].path) for i in test_idx}
        assert tr_flag is True and va_flag is False
        assert va_paths and not (va_paths & test_paths), f"fold {name}: validation uses test files"
        assert not (tr_paths & test_paths) and not (tr_paths & va_paths)
    assert [f["n_test"] for f in m["folds"]] == [6, 6, 6]


def test_default_trains_on_all_training_folds_and_keeps_the_last_epoch(tone_csv, tiny_config, tmp_path):
    """The default (--val-fraction 0): no validation split, the whole schedule, the last epoch kept,
    and the report says so; --val-fraction brings the validation split and its choice back."""
    assert TrainConfig().val_fraction == 0.0
    from audiocnn.data import load_manifest

    n = len(load_manifest(tone_csv).items)
    m = run_experiment(tone_csv, dataclasses.replace(tiny_config, epochs=3), tmp_path / "run", max_folds=1)
    fold = m["folds"][0]
    assert fold["n_val"] == 0 and fold["n_train"] + fold["n_test"] == n
    assert fold["best_epoch"] == fold["epochs_run"] == 3 and fold["selection"].startswith("last epoch")
    history = json.loads((tmp_path / "run" / "fold_1" / "result.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3] and not any("val_score" in h for h in history)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "no validation split" in report and "kept the last epoch" in report

    v = run_experiment(tone_csv, dataclasses.replace(tiny_config, epochs=3, val_fraction=0.2), tmp_path / "val", max_folds=1)
    fold = v["folds"][0]
    assert fold["n_val"] > 0 and fold["n_train"] + fold["n_val"] + fold["n_test"] == n
    history = json.loads((tmp_path / "val" / "fold_1" / "result.json").read_text())["history"]
    assert fold["selection"] == "val_score" and all("val_score" in h for h in history)
    assert "a validation split taken from the training folds chose the epoch" in (tmp_path / "val" / "report.md").read_text()


def test_selection_sentence_says_what_each_fold_did():
    from audiocnn.evaluate.report import selection_sentence

    none = selection_sentence([{"n_val": 0}, {"n_val": 0}])
    every = selection_sentence([{"n_val": 4}, {"n_val": 5}])
    mixed = selection_sentence([{"n_val": 0}, {"n_val": 5}])
    assert "kept the last epoch" in none and "chose the epoch" not in none
    assert "chose the epoch" in every and "last epoch" not in every
    assert "folds without one kept the last epoch" in mixed
    assert selection_sentence([{"fold": "1"}]) == every  # a record from before n_val was optional


def test_learning_curves_without_validation_draw_the_training_loss_alone(tmp_path):
    import warnings

    import matplotlib.image

    from audiocnn.evaluate.report import plot_learning_curves

    train_only = [[{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2, 3)] for _ in range(2)]
    validated = [[{**h, "val_loss": 1.5 * h["train_loss"], "val_metric": 0.5} for h in hist] for hist in train_only]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib's "no artists with labels" for an empty panel
        plot_learning_curves(train_only, ["1", "2"], tmp_path / "train.png", "accuracy")
        plot_learning_curves(validated, ["1", "2"], tmp_path / "val.png", "accuracy")
    one, two = (matplotlib.image.imread(tmp_path / n) for n in ("train.png", "val.png"))
    assert one.shape[1] < 0.7 * two.shape[1]  # one panel instead of two


def _fold_fingerprint(m):
    return [(f["fold"], f["accuracy"], f["best_epoch"], f.get("val_loss")) for f in m["folds"]]


def test_same_seed_same_result(tiny_run, tone_data, tiny_config, tmp_path):
    # a second run of the shared run's recipe and data, stopped after two of the three folds
    a_dir, a = tiny_run
    b = run_experiment(tone_data, tiny_config, tmp_path / "b", max_folds=2)
    assert _fold_fingerprint(a)[:2] == _fold_fingerprint(b) and len(b["folds"]) == 2
    wa = torch.load(a_dir / "fold_2" / "best.pth", weights_only=True)["model"]
    wb = torch.load(tmp_path / "b" / "fold_2" / "best.pth", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_runs_only_unfinished_folds(tiny_run, tone_data, tiny_config, tmp_path, monkeypatch):
    reference = tiny_run[1]  # the same recipe and data, uninterrupted
    real_fit = protocol.fit_fold
    calls = []

    def killed_after_first_fold(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies while fold 2 trains
        return real_fit(*a, **k)

    monkeypatch.setattr(protocol, "fit_fold", killed_after_first_fold)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(tone_data, tiny_config, out)
    assert (out / "fold_1" / "result.json").exists() and not (out / "fold_2" / "result.json").exists()
    with pytest.raises(ValueError, match="--resume"):
        run_experiment(tone_data, tiny_config, out)

    trained = []

    def counting_fit(manifest, tr, va, config, cache, clip, fdir, **k):
        trained.append(fdir.name)
        return real_fit(manifest, tr, va, config, cache, clip, fdir, **k)

    monkeypatch.setattr(protocol, "fit_fold", counting_fit)
    resumed = run_experiment(tone_data, tiny_config, out, resume=True)
    assert trained == ["fold_2", "fold_3"]
    assert _fold_fingerprint(resumed) == _fold_fingerprint(reference)


def test_resume_refuses_another_configuration(tiny_run, tone_data, tiny_config, tmp_path):
    from dataclasses import replace

    shutil.copytree(tiny_run[0], tmp_path / "run")
    with pytest.raises(ValueError, match="lr"):
        run_experiment(tone_data, replace(tiny_config, lr=0.1), tmp_path / "run", resume=True)


def test_bad_files_stop_before_training_or_are_recorded(tmp_path, tiny_config, monkeypatch, make_tones):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.wav").write_bytes(b"not audio at all")
    csv = make_tones(
        tmp_path / "data",
        extra_rows=[{"filename": "missing.wav", "label": "low", "fold": "1"}, {"filename": "broken.wav", "label": "mid", "fold": "2"}],
    )
    trained = []
    real_fit = protocol.fit_fold
    monkeypatch.setattr(protocol, "fit_fold", lambda *a, **k: trained.append(1) or real_fit(*a, **k))
    with pytest.raises(audiocnn.data.BadDataError) as e:
        run_experiment(csv, tiny_config, tmp_path / "run")
    assert "missing.wav" in str(e.value) and "broken.wav" in str(e.value)
    assert trained == []
    m = run_experiment(csv, tiny_config, tmp_path / "run2", skip_bad=True, max_folds=1)
    assert sorted(b["path"].rsplit("/", 1)[-1] for b in m["bad_files"]) == ["broken.wav", "missing.wav"]
    report = (tmp_path / "run2" / "report.md").read_text()
    assert "Bad files skipped (2)" in report and "missing.wav" in report and "broken.wav" in report


def test_multilabel_tagging_metrics(tmp_path, tiny_config, make_tones):
    csv = make_tones(tmp_path / "data", multilabel=True)
    m = run_experiment(csv, tiny_config, tmp_path / "run", max_folds=1)
    assert m["task"] == "tagging"
    assert set(m["summary"]) >= {"mAP", "auc", "d_prime"}
    assert 0.0 <= m["summary"]["mAP"]["mean"] <= 1.0
    assert (tmp_path / "run" / "learning_curves.png").exists()
    header = (tmp_path / "run" / "fold_1" / "predictions.csv").read_text().splitlines()[0]
    assert header.startswith("path,label,predicted,p_")


def test_adapt_batchnorm_estimates_statistics_from_the_unlabelled_test_audio(tone_csv):
    import dataclasses

    from audiocnn.data import AudioCache, load_manifest
    from audiocnn.evaluate.predict import adapt_batchnorm

    man = load_manifest(tone_csv)
    # labels are not an input: scramble them and the adapted model must be the same
    scrambled = dataclasses.replace(man, items=tuple(dataclasses.replace(it, labels=man.items[0].labels) for it in man.items))
    model = audiocnn.create_model("test_cnn", num_classes=3).eval()
    cache = AudioCache(model.sample_rate)
    a = adapt_batchnorm(model, man, cache, Windowing(0.5))
    b = adapt_batchnorm(model, scrambled, cache, Windowing(0.5))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    # bn0 normalises each mel bin: its new mean is the mean log-mel of the evaluation windows
    n = int(0.5 * model.sample_rate)
    x = torch.from_numpy(np.stack([w for it in man.items for _, w in windows_of(cache.get(it.path), n, n, pad_short=True)]))
    with torch.no_grad():
        mel = model.logmel_extractor(x.float())  # (batch, frames, bins)
    torch.testing.assert_close(a.bn0.running_mean, mel.mean(dim=(0, 1)), rtol=1e-4, atol=1e-3)
    assert not torch.allclose(model.bn0.running_mean, a.bn0.running_mean)  # the original is untouched
    assert not a.training and all(not m.training for m in a.modules())


def test_information_maximization_trains_only_batchnorm_affine_and_lowers_its_objective(tone_csv):
    import dataclasses

    from audiocnn.data import AudioCache, load_manifest
    from audiocnn.evaluate.predict import (
        adapt_batchnorm,
        adapt_information_maximization,
        information_maximization_loss,
    )

    man = load_manifest(tone_csv)
    torch.manual_seed(0)
    model = audiocnn.create_model("test_cnn", num_classes=3).eval()
    cache = AudioCache(model.sample_rate)
    base = adapt_batchnorm(model, man, cache, Windowing(0.5))
    im = adapt_information_maximization(base, man, cache, Windowing(0.5), epochs=5, lr=1e-2)
    before, after = base.state_dict(), im.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "nothing was trained"
    bn_affine = {f"{n}.{p}" for n, m in base.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for p in ("weight", "bias")}
    assert changed <= bn_affine  # no conv/linear weight and no BatchNorm statistic moved
    assert all(not p.requires_grad and p.grad is None for p in im.parameters()) and not im.training
    n = int(0.5 * model.sample_rate)
    x = torch.from_numpy(np.stack([w for it in man.items for _, w in windows_of(cache.get(it.path), n, n, pad_short=True)]))
    with torch.no_grad():
        assert information_maximization_loss(im(x)["logits"]) < information_maximization_loss(base(x)["logits"]) - 1e-3
    # labels are not an input
    scrambled = dataclasses.replace(man, items=tuple(dataclasses.replace(it, labels=man.items[0].labels) for it in man.items))
    again = adapt_information_maximization(base, scrambled, cache, Windowing(0.5), epochs=5, lr=1e-2)
    assert all(torch.equal(a, b) for a, b in zip(after.values(), again.state_dict().values()))


def test_information_maximization_loss_prefers_confident_and_even_predictions():
    from audiocnn.evaluate.predict import information_maximization_loss

    confident_even = torch.tensor([[9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]])
    confident_collapsed = torch.tensor([[9.0, 0, 0], [9.0, 0, 0], [9.0, 0, 0]])
    unsure = torch.zeros(3, 3)
    assert information_maximization_loss(confident_even) < information_maximization_loss(unsure)
    assert information_maximization_loss(confident_even) < information_maximization_loss(confident_collapsed)
    assert information_maximization_loss(confident_even).item() == pytest.approx(-np.log(3), abs=0.01)


def test_adapt_im_run_reports_three_scores_and_rejects_tagging(tone_csv, tiny_config, tmp_path):
    import dataclasses

    bn = run_experiment(tone_csv, dataclasses.replace(tiny_config, adapt_bn=True), tmp_path / "bn", max_folds=1)
    im = run_experiment(tone_csv, dataclasses.replace(tiny_config, adapt_im=True), tmp_path / "im", max_folds=1)
    f_bn, f_im = bn["folds"][0], im["folds"][0]
    assert f_im["accuracy_adabn"] == pytest.approx(f_bn["accuracy"])  # same seed: the BatchNorm-only step is --adapt-bn
    assert f_im["accuracy_unadapted"] == pytest.approx(f_bn["accuracy_unadapted"])
    assert set(im["summary"]) >= {"accuracy", "accuracy_adabn", "accuracy_unadapted", "macro_f1_adabn"}
    report = (tmp_path / "im" / "report.md").read_text()
    assert "information maximisation" in report and "accuracy_adabn" in report
    ev = evaluate_checkpoint(tmp_path / "im" / "fold_1" / "best.pth", tone_csv, fold="1", adapt_im=True)
    assert ev["accuracy"] == pytest.approx(f_im["accuracy"]) and ev["accuracy_adabn"] == pytest.approx(f_im["accuracy_adabn"])
    tags = tone_csv.with_name("tags.csv")
    rows = tone_csv.read_text().splitlines()
    tags.write_text("filename,labels\n" + "\n".join(f"{r.split(',')[0]},{r.split(',')[1]}" for r in rows[1:]) + "\n")
    with pytest.raises(ValueError, match="single-label"):
        run_experiment(tags, dataclasses.replace(tiny_config, adapt_im=True), tmp_path / "tags")


def test_adapt_bn_run_reports_both_scores(tone_csv, tiny_config, tmp_path):
    import dataclasses

    plain = run_experiment(tone_csv, tiny_config, tmp_path / "plain", max_folds=1)
    adapted = run_experiment(tone_csv, dataclasses.replace(tiny_config, adapt_bn=True), tmp_path / "adapted", max_folds=1)
    # same seed and folds: the unadapted score of the adapted run is the plain run's score
    assert adapted["folds"][0]["accuracy_unadapted"] == pytest.approx(plain["folds"][0]["accuracy"])
    assert set(adapted["summary"]) >= {"accuracy", "accuracy_unadapted", "macro_f1_unadapted"}
    report = (tmp_path / "adapted" / "report.md").read_text()
    assert "test-time BatchNorm adaptation" in report and "accuracy_unadapted" in report
    assert "accuracy_unadapted" not in (tmp_path / "plain" / "report.md").read_text()
    # `audiocnn evaluate --adapt-bn` on the fold's test files reproduces both of the fold's scores
    ev = evaluate_checkpoint(tmp_path / "adapted" / "fold_1" / "best.pth", tone_csv, fold="1", adapt_bn=True)
    assert ev["accuracy"] == pytest.approx(adapted["folds"][0]["accuracy"])
    assert ev["accuracy_unadapted"] == pytest.approx(adapted["folds"][0]["accuracy_unadapted"])


def test_ensemble_averages_its_members(tone_csv, tiny_config, tmp_path):
    import dataclasses

    from audiocnn.data import AudioCache, load_manifest
    from audiocnn.evaluate.predict import predict_manifest

    m = run_experiment(tone_csv, dataclasses.replace(tiny_config, ensemble=2), tmp_path / "ens", max_folds=1)
    fold = m["folds"][0]
    assert [x["checkpoint"] for x in fold["members"]] == [str(tmp_path / "ens" / "fold_1" / f"member_{j}" / "best.pth") for j in (1, 2)]
    members = [audiocnn.create_model("test_cnn", checkpoint=x["checkpoint"]) for x in fold["members"]]
    assert any(not torch.equal(a, b) for a, b in zip(members[0].state_dict().values(), members[1].state_dict().values()))
    # the fold's score is that of the averaged probabilities, recomputed here from the saved members
    man = load_manifest(tone_csv)
    test = man.subset([i for i, it in enumerate(man.items) if it.fold == "1"])
    cache = AudioCache(members[0].sample_rate)
    windowing = Windowing.from_dict(m["config"]["windowing"])
    probs = np.mean([predict_manifest(mm, test, cache, windowing) for mm in members], axis=0)
    assert fold["accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == test.label_indices())))
    with pytest.raises(ValueError, match="ensemble"):
        dataclasses.replace(tiny_config, ensemble=0)


def test_transfer_trains_at_the_checkpoint_sample_rate(tone_csv, tiny_config, tmp_path):
    """With --checkpoint the folds train and score at the pretrained model's sample rate (the
    16-kHz data resampled to it), whatever the data's rate; the saved models keep that rate."""
    from audiocnn.models import ModelBundle, load_model, save_checkpoint

    pretrained = audiocnn.create_model("test_cnn", num_classes=5, sample_rate=8000)
    ckpt = save_checkpoint(pretrained, tmp_path / "pre.pth", ModelBundle.for_model(pretrained, labels=[f"c{i}" for i in range(5)]))
    for mode in ("linear", "finetune"):
        config = dataclasses.replace(tiny_config, checkpoint=str(ckpt), mode=mode, lr=None)
        m = run_experiment(tone_csv, config, tmp_path / mode, max_folds=1, baselines=())
        model, bundle = load_model(str(tmp_path / mode / "fold_1" / "model"))
        assert model.sample_rate == bundle.sample_rate == 8000
        assert model.num_classes == len(m["classes"]) == 3
