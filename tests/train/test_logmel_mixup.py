"""--mixup-on logmel: the log-mels are mixed inside the model after SpecAugment (PANNs), the
waveforms are not; evaluation outputs are unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import audiocnn
from audiocnn.cli import main
from audiocnn.features.augment import MixPlan, Mixup
from audiocnn.train import AudioClassifier, TrainConfig


def _plan(batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return MixPlan(torch.rand(batch, generator=g), torch.randperm(batch, generator=g))


def test_mix_plan_mixes_each_item_with_its_partner():
    x = torch.arange(4.0)[:, None].repeat(1, 3)
    plan = MixPlan(torch.tensor([1.0, 0.0, 0.5, 0.25]), torch.tensor([1, 2, 3, 0]))
    assert torch.equal(plan(x)[:, 0], torch.tensor([0.0, 2.0, 2.5, 0.75]))
    assert Mixup(1.0).eval().plan(4) is None and Mixup(0.0).train().plan(4) is None and Mixup(1.0).train().plan(1) is None


@pytest.mark.parametrize("name", ["test_cnn", "test_cnn_sed", "cnn6_lite"])
def test_eval_outputs_are_unchanged(name):
    torch.manual_seed(0)
    model = audiocnn.create_model(name, num_classes=3).eval()
    x = torch.randn(2, 16000)
    a, b = model(x), model(x, mixup=None)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _capture(module, store, key, output=True):
    def hook(mod, args, out=None):
        store[key] = (out if output else args[0]).detach().clone()

    return module.register_forward_hook(hook) if output else module.register_forward_pre_hook(hook)


@pytest.mark.parametrize("name", ["test_cnn", "cnn6_lite"])
def test_the_log_mel_is_mixed_after_spec_augment_and_the_waveform_is_not(name):
    torch.manual_seed(0)
    model = audiocnn.create_model(name, num_classes=3).train()
    seen = {}
    hooks = [_capture(model.logmel_extractor, seen, "wave", output=False), _capture(model.spec_augmenter, seen, "augmented"),
             _capture(model.conv_block1, seen, "conv_in", output=False)]
    x = torch.randn(4, 16000)
    plan = _plan()
    model(x, mixup=plan)
    for h in hooks:
        h.remove()
    assert torch.equal(seen["wave"], x)  # the waveforms reach the front-end unmixed
    assert torch.allclose(seen["conv_in"], plan(seen["augmented"]), atol=1e-6)  # mixed right after SpecAugment
    assert not torch.allclose(seen["conv_in"], seen["augmented"])


class _Spy(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, x, **kw):
        self.calls.append((x.detach().clone(), kw))
        return self.model(x, **kw)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)


@pytest.mark.parametrize("where", ["logmel", "waveform"])
def test_training_step_mixes_at_the_chosen_place(where):
    torch.manual_seed(0)
    # no SpecAugment and no dropout: the forward pass is a function of its input
    net = audiocnn.create_model("test_cnn", num_classes=3, spec_augment=False, conv_dropout=0.0, fc_dropout=0.0).train()
    cfg = TrainConfig(model="test_cnn", mixup=1.0, mixup_on=where, progress=False)
    module = AudioClassifier(net, cfg, multilabel=False, steps_per_epoch=1)
    spy = _Spy(net)
    module.model = spy
    x, y = torch.randn(4, 16000), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    module.log = lambda *a, **k: None
    loss = module.training_step((x, y), 0)
    (seen, kw), = spy.calls
    torch.manual_seed(1)
    plan = Mixup(1.0).train().plan(4)  # the same draw
    if where == "logmel":
        assert torch.equal(seen, x) and isinstance(kw["mixup"], MixPlan)
        assert torch.equal(kw["mixup"].perm, plan.perm) and torch.allclose(kw["mixup"].lam, plan.lam)
    else:
        assert kw == {} and torch.allclose(seen, plan(x))
    # the targets follow the same draw: the loss is the cross-entropy on the mixed one-hot targets
    logits = net(x, mixup=plan)["logits"] if where == "logmel" else net(plan(x))["logits"]
    assert loss.item() == pytest.approx(F.cross_entropy(logits, plan(F.one_hot(y, 3).float())).item(), rel=1e-5)
    assert loss.item() != pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-3)


def test_a_model_without_a_log_mel_front_end_is_refused(tmp_path, capsys):
    net = audiocnn.create_model("test_imagenet_resnet", num_classes=3)
    with pytest.raises(ValueError, match="--mixup-on logmel: test_imagenet_resnet"):
        AudioClassifier(net, TrainConfig(model="test_imagenet_resnet", mixup=1.0, mixup_on="logmel"), multilabel=False, steps_per_epoch=1)
    code = main(["train", "--data", str(tmp_path), "--model", "test_imagenet_resnet", "--mixup", "1", "--mixup-on", "logmel"])
    assert code == 2 and "use --mixup-on waveform" in capsys.readouterr().err
