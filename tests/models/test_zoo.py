"""Properties every registered model must have (new families are covered automatically)."""

import pytest
import torch

import audiocnn
from audiocnn.models import AudioModel, model_family

ALL = audiocnn.list_models(include_test=True)
# The default run checks each family's tiny configuration (test_*) and the compact models; the
# full-size models (seconds each to build and run) are in the slow set (-m slow).
SMALL = [n for n in ALL if n.startswith("test_") or model_family(n) == "compact"]
MODELS = [n if n in SMALL else pytest.param(n, marks=pytest.mark.slow) for n in ALL]


def _input(model, batch, seconds=1.0):
    n = max(int(seconds * model.sample_rate), model.info.min_samples)
    g = torch.Generator().manual_seed(1)
    return 0.3 * torch.randn(batch, n, generator=g)


def test_registry_lists_the_panns_names():
    expected = {
        "cnn6", "cnn10", "cnn14", "cnn14_16k", "cnn14_8k", "cnn14_decision_level_max",
        "cnn14_decision_level_avg", "cnn14_decision_level_att", "resnet22", "resnet38", "resnet54",
        "mobilenet_v1", "mobilenet_v2", "leenet11", "leenet24", "dainet19", "res1dnet31",
        "res1dnet51", "wavegram_cnn14", "wavegram_logmel_cnn14",
        # the ablations of the paper
        "cnn14_emb512", "cnn14_emb128", "cnn14_emb32", "cnn14_mel32", "cnn14_mel128",
        "cnn14_no_specaug", "cnn14_no_dropout", "cnn14_mixup_time_domain", "wavegram_logmel128_cnn14",
    }
    missing = expected - set(audiocnn.list_models())
    assert not missing, f"not registered: {sorted(missing)}"


def test_every_family_has_a_small_model_in_the_default_run():
    families = {model_family(n) for n in ALL}
    missing = families - {model_family(n) for n in SMALL}
    assert not missing, f"families without a test_* configuration: {sorted(missing)}"
    assert len(families) >= 8


def test_list_models_pattern_and_unknown_name():
    assert audiocnn.list_models("cnn14_*") == sorted(n for n in ALL if n.startswith("cnn14_"))
    with pytest.raises(ValueError, match="unknown model 'cnn15'"):
        audiocnn.create_model("cnn15")


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_shapes_and_batch_consistency(name):
    model = audiocnn.create_model(name, num_classes=5)
    assert isinstance(model, AudioModel)
    assert model.info.name == name and model.sample_rate > 0 and model.num_classes == 5
    x = _input(model, 3)

    # eval: batched output equals per-item output, also for a batch of one
    model.eval()
    with torch.no_grad():
        out = model(x)
        singles = [model(x[i : i + 1]) for i in range(3)]
    assert out["logits"].shape == (3, 5)
    assert out["embedding"].shape == (3, model.embedding_dim)
    assert torch.isfinite(out["logits"]).all()
    if model.info.frame_level:
        fw = out["framewise_logits"]
        assert fw.shape[0] == 3 and fw.shape[2] == 5
        assert singles[0]["framewise_logits"].shape == (1, fw.shape[1], 5)
    else:
        assert "framewise_logits" not in out
    for i, s in enumerate(singles):
        assert s["logits"].shape == (1, 5)
        torch.testing.assert_close(s["logits"][0], out["logits"][i], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(s["embedding"][0], out["embedding"][i], rtol=1e-4, atol=1e-4)

    # train: gradients reach the first and the last layer
    model.train()
    out = model(x)
    loss = out["logits"].square().mean() + (out["framewise_logits"].square().mean() if "framewise_logits" in out else 0)
    loss.backward()
    params = dict(model.named_parameters())
    head = model.classifier_parameter_names()
    assert any(params[n].grad is not None and params[n].grad.abs().sum() > 0 for n in head), "no gradient in the head"
    first = [p for n, p in params.items() if n not in head][:3]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in first), "no gradient reaches the first layers"


@pytest.mark.parametrize("name", MODELS)
def test_trains_under_bf16_autocast(name):
    """What ``audiocnn train --precision auto`` does on a CPU with native bfloat16: a training
    step in bfloat16 autocast runs, stays finite and reaches float32 gradients."""
    torch.manual_seed(0)
    model = audiocnn.create_model(name, num_classes=5).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_input(model, 2))
        loss = torch.nn.functional.cross_entropy(out["logits"].float(), torch.tensor([0, 3]))
    loss.backward()
    assert out["logits"].dtype == torch.bfloat16, "the forward pass did not run in bfloat16"
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_and_freeze_backbone(name):
    model = audiocnn.create_model(name, num_classes=4)
    model.reset_classifier(7)
    assert model.num_classes == 7
    model.freeze_backbone()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(model.info.classifier + ".") for n in trainable)
    with torch.no_grad():
        assert model.eval()(_input(model, 1))["logits"].shape == (1, 7)


@pytest.mark.parametrize("name", MODELS)
def test_too_short_input_is_a_clear_error(name):
    model = audiocnn.create_model(name, num_classes=3).eval()
    if model.info.min_samples <= 1:
        pytest.skip("accepts any length")
    with pytest.raises(ValueError, match="needs at least"):
        model(torch.zeros(1, model.info.min_samples - 1))


def test_unknown_override_is_a_clear_error():
    with pytest.raises(ValueError, match="model 'cnn6' has no argument 'init'"):
        audiocnn.create_model("cnn6", init="random")
