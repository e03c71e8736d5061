"""The real Free Spoken Digit Dataset (../shared/data/fsdd): layout, groups, speaker-independent folds."""

import numpy as np

from audiocnn.data import load_manifest, make_folds, split_train_val, validate_manifest


def test_fsdd_manifest_and_leave_one_speaker_out(fsdd_dir):
    m = load_manifest(fsdd_dir)  # auto-detected
    assert m.name == "fsdd"
    m = validate_manifest(m, progress=False)  # every file exists and opens; nothing skipped
    assert len(m) == 3000 and m.bad == ()
    assert m.classes == tuple(str(d) for d in range(10))
    speakers = m.groups()
    assert len(set(speakers.tolist())) == 6
    assert set(np.bincount(m.label_indices()).tolist()) == {300}
    folds = make_folds(m, "logo")
    assert len(folds) == 6
    tested = np.concatenate([te for _, _, te in folds])
    assert sorted(tested.tolist()) == list(range(3000))
    for name, tr, te in folds:
        assert set(speakers[te].tolist()) == {name}
        assert name not in set(speakers[tr].tolist())
        a, v = split_train_val(m, tr, 0.1)
        # validation speakers are training-fold speakers, disjoint from the ones trained on
        assert not set(speakers[v].tolist()) & set(speakers[a].tolist())
        assert name not in set(speakers[v].tolist())
