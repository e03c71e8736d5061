"""Streaming tar shards: readers split the data without overlap, ranks get equal batch counts,
two ranks see the batches of one, mid-epoch resume, approximate and exact balanced sampling."""

import numpy as np
import pytest
import torch

from audiocnn.data import BalancedSampler
from audiocnn.data.shards import PackOptions, RankSampler, ShardStream, SyntheticSource, pack, split_shards


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    src = SyntheticSource(90, seconds=0.25, num_classes=5, seed=3)
    return pack(src, root / "s", PackOptions(sample_rate=8000, shard_size=10), progress=False)


def _keys(stream_batches):
    """Identify clips by their waveform bytes (clip_seconds = packed length: no crop)."""
    return [bytes(x.numpy().tobytes()) for xb, _ in stream_batches for x in xb]


def test_split_shards_deals_every_shard_once():
    parts = [split_shards(11, 4, r, epoch=2, seed=0) for r in range(4)]
    assert sorted(sum(parts, [])) == list(range(11))
    assert parts != [split_shards(11, 4, r, epoch=3, seed=0) for r in range(4)]  # reshuffled per epoch


@pytest.mark.parametrize("split", ["shards", "samples"])
def test_evaluation_readers_cover_every_clip_once(packed, split):
    keys = []
    for rank in range(2):
        s = ShardStream(packed, 0.25, 4, train=False, split=split, num_workers=2, rank=rank, world_size=2)
        dl = torch.utils.data.DataLoader(s, batch_size=None, num_workers=2)
        batches = list(dl)
        assert len(batches) == len(s)
        keys += _keys(batches)
    assert len(keys) == 90 and len(set(keys)) == 90


def test_training_ranks_get_equal_batches_from_disjoint_shards(packed):
    per_rank = []
    for rank in range(2):
        s = ShardStream(packed, 0.25, 4, split="shards", num_workers=2, rank=rank, world_size=2, shuffle_buffer=8)
        batches = list(torch.utils.data.DataLoader(s, batch_size=None, num_workers=2))
        assert len(batches) == len(s) == 90 // 8
        assert all(x.shape == (4, 2000) for x, _ in batches)
        per_rank.append(set(_keys(batches)))
    assert not per_rank[0] & per_rank[1]


def test_two_ranks_see_the_batches_of_one(packed):
    one = list(ShardStream(packed, 0.25, 8, split="samples", seed=5))
    two = [list(ShardStream(packed, 0.25, 4, split="samples", seed=5, rank=r, world_size=2)) for r in range(2)]
    assert len(one) == len(two[0]) == len(two[1]) == 90 // 8
    for k, (x, y) in enumerate(one):
        assert torch.equal(x, torch.cat([two[0][k][0], two[1][k][0]]))
        assert torch.equal(y, torch.cat([two[0][k][1], two[1][k][1]]))


@pytest.mark.parametrize("split", ["shards", "samples"])
def test_resume_mid_epoch_yields_the_remaining_batches(packed, split):
    def run(skip):
        s = ShardStream(packed, 0.2, 4, split=split, num_workers=2, seed=1, shuffle_buffer=6)
        s.set_position(1, skip)
        return list(torch.utils.data.DataLoader(s, batch_size=None, num_workers=2))

    full, rest = run(0), run(5)
    assert len(rest) == len(full) - 5 and len(full) == 90 // 4
    for (a, ya), (b, yb) in zip(full[5:], rest):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    s = ShardStream(packed, 0.2, 4)
    s.set_position(0, s.steps)  # a checkpoint at the end of epoch 0 starts epoch 1
    assert (s.epoch, s.skip) == (1, 0)


def _label_counts(batches, classes):
    c = np.zeros(classes)
    for _, y in batches:
        c += y.numpy().sum(0)
    return c


def test_balanced_stream_evens_out_the_classes(tmp_path):
    idx = pack(SyntheticSource(400, seconds=0.1, num_classes=8, seed=0), tmp_path / "s", PackOptions(sample_rate=8000, shard_size=50), progress=False)
    plain = _label_counts(list(ShardStream(idx, 0.1, 16, seed=0)), 8)
    bal = _label_counts(list(ShardStream(idx, 0.1, 16, seed=0, balanced=True)), 8)
    assert plain.max() / plain.min() > 3  # the synthetic prior is Zipf-like
    # exact PANNs sampler over the same clips, for reference
    targets = np.zeros((400, 8))
    src = SyntheticSource(400, seconds=0.1, num_classes=8, seed=0)
    for i in range(400):
        targets[i, src.record(i)["target"]] = 1
    exact = targets[np.fromiter(iter(BalancedSampler(targets, seed=0)), dtype=np.int64)].sum(0)
    assert bal.max() / bal.min() < 1.6 * exact.max() / exact.min()
    assert bal.max() / bal.min() < plain.max() / plain.min() / 2


def test_rank_sampler_deals_global_batches_and_resumes():
    one = list(RankSampler(40, 8, seed=2))
    two = [list(RankSampler(40, 4, seed=2, rank=r, world_size=2)) for r in range(2)]
    for k in range(5):
        assert one[8 * k : 8 * k + 8] == two[0][4 * k : 4 * k + 4] + two[1][4 * k : 4 * k + 4]
    targets = np.eye(4)[np.arange(40) % 4]
    s = RankSampler(40, 4, targets=targets, seed=0)
    order = list(s)
    assert order == list(BalancedSampler(targets, num_samples=40, seed=0))
    s.set_position(0, 3)
    assert list(s) == order[12:]
    with pytest.raises(ValueError, match="fewer than one global batch"):
        RankSampler(5, 4, world_size=2)
