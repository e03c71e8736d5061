import torch

from audiocnn.features import Mixup, SpecAugment, drop_stripes


def test_specaugment_is_identity_in_eval_and_drops_stripes_in_train():
    x = torch.ones(8, 1, 200, 64)
    aug = SpecAugment(time_drop_width=64, time_stripes_num=2, freq_drop_width=8, freq_stripes_num=2)
    assert aug.eval()(x) is x
    y = aug.train()(x)
    assert y.shape == x.shape and torch.all(x == 1)  # input untouched
    zeros = y == 0
    # zeros form whole time rows or whole frequency columns
    row = zeros.all(dim=3)
    col = zeros.all(dim=2)
    assert torch.equal(zeros, row[..., None] | col[..., None, :])
    # widths are bounded: at most 2 stripes of < 64 frames and 2 of < 8 bins per item
    assert (row.sum(dim=2) <= 2 * 63).all() and (col.sum(dim=2) <= 2 * 7).all()
    assert zeros.any()


def test_drop_stripes_is_per_item():
    torch.manual_seed(3)
    y = drop_stripes(torch.ones(16, 100, 10), 1, 30, 1)
    dropped_rows = (y == 0).all(dim=2)
    assert len({tuple(r.nonzero().flatten().tolist()) for r in dropped_rows}) > 1


def test_mixup_mixes_inputs_and_targets_consistently():
    torch.manual_seed(0)
    x = torch.stack([torch.full((5,), float(i)) for i in range(6)])  # item i is constant i
    t = torch.eye(6)
    mix = Mixup(alpha=1.0).train()
    xm, tm = mix(x, t)
    torch.testing.assert_close(tm.sum(1), torch.ones(6))
    # each mixed item is lam*i + (1-lam)*j where lam is its target weight on class i
    for i in range(6):
        j = int(torch.argmax(tm[i] - tm[i, i] * (torch.arange(6) == i).float()))
        lam = tm[i, i] if j != i else torch.tensor(1.0)
        torch.testing.assert_close(xm[i], lam * x[i] + (1 - lam) * x[j])
    x2, t2 = Mixup(alpha=1.0).eval()(x, t)
    assert x2 is x and t2 is t


def test_speed_perturb_changes_pitch_by_the_factor_and_keeps_length():
    import numpy as np

    from audiocnn.features import SpeedPerturb, speed_perturb
    from audiocnn.testing import tone

    sr = 8000
    x = torch.from_numpy(tone(500, 1.0, sr))[None].repeat(2, 1)
    y = speed_perturb(x, torch.tensor([1.2, 0.8]))
    assert y.shape == x.shape
    for i, expected in enumerate([600, 400]):
        seg = y[i, :6000].numpy()  # the sped-up item is padded after 1/1.2 s
        peak = np.argmax(np.abs(np.fft.rfft(seg * np.hanning(len(seg))))) * sr / len(seg)
        assert abs(peak - expected) < 5
    assert torch.all(y[0, 6700:] == 0)
    aug = SpeedPerturb(0.1)
    assert aug.eval()(x) is x
    torch.testing.assert_close(speed_perturb(x, torch.ones(2)), x)
