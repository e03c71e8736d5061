"""`audiocnn pack`: packs a CSV manifest, verifies checksums (exit 1 on a damaged shard), and stops
on unreadable files unless --skip-bad."""

import csv

from audiocnn.cli import main
from audiocnn.data.shards import load_index
from audiocnn.testing import tone, write_wav


def _csv(root, bad=False):
    rows = []
    for i in range(6):
        write_wav(root / f"c{i}.wav", tone(300 + 100 * i, 0.2, 16000), 16000)
        rows.append({"filename": f"c{i}.wav", "label": "ab"[i % 2]})
    if bad:
        (root / "broken.wav").write_text("no")
        rows.append({"filename": "broken.wav", "label": "a"})
    with open(root / "meta.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["filename", "label"])
        w.writeheader()
        w.writerows(rows)
    return root / "meta.csv"


def test_pack_and_verify(tmp_path, capsys):
    meta = _csv(tmp_path)
    assert main(["pack", "--data", str(meta), "--out", str(tmp_path / "s"), "--sample-rate", "8000", "--shard-size", "4", "--no-progress"]) == 0
    assert "packed 6 clip(s) into 2 tar (flac) shard(s) at 8000 Hz" in capsys.readouterr().out
    assert load_index(tmp_path / "s").classes == ("a", "b")
    assert main(["pack", "--verify", str(tmp_path / "s")]) == 0
    shard = tmp_path / "s" / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:-10] + b"x" * 10)
    assert main(["pack", "--verify", str(tmp_path / "s")]) == 1
    assert "shard-000001.tar: sha256" in capsys.readouterr().err


def test_bad_files_stop_the_pack_unless_skipped(tmp_path, capsys):
    meta = _csv(tmp_path, bad=True)
    args = ["pack", "--data", str(meta), "--out", str(tmp_path / "s"), "--sample-rate", "8000", "--no-progress"]
    assert main(args) == 1
    assert "broken.wav" in capsys.readouterr().err
    assert main([*args, "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "1 file(s) left out" in err and "broken.wav: not a readable audio file" in err
