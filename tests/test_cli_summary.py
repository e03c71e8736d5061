"""Every command ends with one line saying where its outputs are (stdout, or the files it wrote),
after any list of failed files."""

import json

import numpy as np
import pytest

from audiocnn.cli import main
from audiocnn.testing import tone, write_wav

pytestmark = pytest.mark.filterwarnings("ignore:.*RANDOM weights.*")
SR = 32000
TINY = ["--model", "test_cnn", "--workers", "0", "--no-progress"]


@pytest.fixture
def files(tmp_path):
    good = [str(write_wav(tmp_path / f"a{i}.wav", tone(300.0 * (i + 1), 0.6, SR), SR)) for i in range(2)]
    (tmp_path / "broken.wav").write_text("not audio")
    return [*good, str(tmp_path / "broken.wav")]


def _last(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_tag_says_where_its_results_are(files, tmp_path, capsys):
    main(["tag", *files, *TINY, "--format", "json"])
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 3  # stdout holds the results alone
    assert "could not be tagged" in err and _last(err).startswith("tagged 2 of 3 file(s)") and _last(err).endswith("results: stdout")
    main(["tag", *files, *TINY, "--out", str(tmp_path / "tags.txt")])
    assert _last(capsys.readouterr().err).endswith(f"results: {tmp_path / 'tags.txt'}")


def test_sed_says_where_its_results_events_and_plots_are(files, tmp_path, capsys):
    main(["sed", *files, "--model", "test_cnn_sed", "--format", "json", "--events", str(tmp_path / "ev.csv"),
          "--plot", str(tmp_path / "plots")])
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 3
    assert _last(err).startswith("sed: 2 of 3 file(s), ")
    assert _last(err).endswith(f"results: stdout, events: {tmp_path / 'ev.csv'}, plots: {tmp_path / 'plots'}")


def test_embed_ends_with_the_file_it_wrote(files, tmp_path, capsys):
    main(["embed", *files, *TINY, "--out", str(tmp_path / "e.npz")])
    out, err = capsys.readouterr()
    assert "could not be embedded" in err
    assert _last(out).startswith(f"wrote {tmp_path / 'e.npz'}: 2 row(s)")
    assert np.load(tmp_path / "e.npz")["embeddings"].shape[0] == 2


def test_models_ends_with_a_count(capsys):
    assert main(["models", "test_cnn*"]) == 0
    out, err = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith("test_cnn")]
    assert rows and _last(err) == f"models: {len(rows)} listed (audiocnn models --json for every field)"


def test_evaluate_without_out_keeps_stdout_json_and_says_so(tmp_path, capsys):
    import torch

    from audiocnn.models import ModelBundle, create_model, save_checkpoint
    from audiocnn.testing import make_tone_csv

    csv = make_tone_csv(tmp_path / "data", per_class=2, folds=2, seconds=0.5)
    torch.manual_seed(0)
    model = create_model("test_cnn", num_classes=3).eval()
    save_checkpoint(model, tmp_path / "m.pth", ModelBundle.for_model(model, labels=["high", "low", "mid"], task="single-label", clip_seconds=0.5))
    assert main(["evaluate", "--checkpoint", str(tmp_path / "m.pth"), "--data", str(csv)]) == 0
    out, err = capsys.readouterr()
    assert "accuracy" in json.loads(out)
    assert _last(err) == "metrics: on stdout (--out DIR writes metrics.json)"
