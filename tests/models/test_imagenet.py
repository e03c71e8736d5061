"""ImageNet backbones: torchvision state-dict layout, weight loading, and the forward pass.

torchvision cannot be imported with this machine's torch, so its models are not run here. What
is checked instead:

1. every parameter/buffer name, shape, dtype and their order equal torchvision's
   (``shared/reference/torchvision_keys``, dumped from torchvision's models);
2. with weights in torchvision's file format (built here from those key lists, random values,
   random running statistics, old DenseNet names, no ``num_batches_tracked``), the backbone with
   its 1000-class head equals a functional forward pass written directly on the file's state
   dict with ``F.conv2d`` / ``F.batch_norm`` / pooling calls, following torchvision's definitions
   (strides, paddings, branch order, ``transform_input``). That reference is independent of the
   module code but written from the same reading of torchvision, so a misreading common to both
   would not be caught; the key lists are the independent part.
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import audiocnn
from audiocnn.models import CheckpointError
from audiocnn.models.torchvision_weights import TORCHVISION_ARCHS, load_torchvision_weights, torchvision_backbone


def _reference_dir():
    here = Path(__file__).resolve()
    for p in here.parents:
        d = p / "shared" / "reference" / "torchvision_keys"
        if d.is_dir():
            return d
    return None


REF = _reference_dir()
needs_ref = pytest.mark.skipif(REF is None, reason="needs shared/reference/torchvision_keys beside the repository")


def _keys(arch):
    rows = []
    for line in (REF / f"keys_{arch}.txt").read_text().splitlines():
        name, shape, dtype = line.split("\t")
        rows.append((name, tuple(int(s) for s in shape.strip("()").split(",") if s.strip()), dtype))
    return rows


def torchvision_style_file(arch, path, old_densenet_names=True, seed=0):
    """A weight file laid out like torchvision's published ones, with random values."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape, dtype in _keys(arch):
        if name.endswith("num_batches_tracked"):
            continue  # the published files predate this buffer
        if name.endswith("running_var"):
            t = 0.5 + 1.5 * torch.rand(shape, generator=g)
        elif name.endswith(("running_mean", "bias")):
            t = 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:  # batch-norm weight
            t = 0.5 + torch.rand(shape, generator=g)
        else:  # conv / linear weight, fan-in scaled
            fan_in = int(torch.tensor(shape[1:]).prod())
            t = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        if old_densenet_names and ".denselayer" in name:
            for a in ("norm1", "conv1", "norm2", "conv2"):
                name = name.replace(f".{a}.", f".{a[:-1]}.{a[-1]}.")
        sd[name] = t
    torch.save(sd, path)
    return sd


# ---------------------------------------------------------------------------------------------
# functional references, written on the file's own key names


def _bn(sd, p, x, eps=1e-5):
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"], False, 0.0, eps)


def _conv(sd, p, x, stride=1, padding=0):
    return F.conv2d(x, sd[p + ".weight"], None, stride, padding)


def ref_resnet(sd, x):
    x = F.max_pool2d(F.relu(_bn(sd, "bn1", _conv(sd, "conv1", x, 2, 3))), 3, 2, 1)
    for stage in range(1, 5):
        j = 0
        while f"layer{stage}.{j}.conv1.weight" in sd:
            p = f"layer{stage}.{j}"
            stride = 2 if stage > 1 and j == 0 else 1
            if p + ".conv3.weight" in sd:  # bottleneck, stride on the 3x3 (v1.5)
                out = F.relu(_bn(sd, p + ".bn1", _conv(sd, p + ".conv1", x)))
                out = F.relu(_bn(sd, p + ".bn2", _conv(sd, p + ".conv2", out, stride, 1)))
                out = _bn(sd, p + ".bn3", _conv(sd, p + ".conv3", out))
            else:
                out = F.relu(_bn(sd, p + ".bn1", _conv(sd, p + ".conv1", x, stride, 1)))
                out = _bn(sd, p + ".bn2", _conv(sd, p + ".conv2", out, 1, 1))
            short = _bn(sd, p + ".downsample.1", _conv(sd, p + ".downsample.0", x, stride)) if p + ".downsample.0.weight" in sd else x
            x = F.relu(out + short)
            j += 1
    return F.linear(x.mean(dim=(2, 3)), sd["fc.weight"], sd["fc.bias"])


def ref_densenet(sd, x):
    x = F.max_pool2d(F.relu(_bn(sd, "features.norm0", _conv(sd, "features.conv0", x, 2, 3))), 3, 2, 1)
    b = 1
    while f"features.denseblock{b}.denselayer1.norm.1.weight" in sd:
        feats, l = [x], 1
        while f"features.denseblock{b}.denselayer{l}.norm.1.weight" in sd:
            p = f"features.denseblock{b}.denselayer{l}"
            h = _conv(sd, p + ".conv.1", F.relu(_bn(sd, p + ".norm.1", torch.cat(feats, 1))))
            feats.append(_conv(sd, p + ".conv.2", F.relu(_bn(sd, p + ".norm.2", h)), 1, 1))
            l += 1
        x = torch.cat(feats, 1)
        t = f"features.transition{b}"
        if t + ".conv.weight" in sd:
            x = F.avg_pool2d(_conv(sd, t + ".conv", F.relu(_bn(sd, t + ".norm", x))), 2, 2)
        b += 1
    x = F.relu(_bn(sd, "features.norm5", x))
    return F.linear(x.mean(dim=(2, 3)), sd["classifier.weight"], sd["classifier.bias"])


# Inception-v3: strides and paddings of torchvision's definition.
_STRIDE2 = {"Conv2d_1a_3x3", "Mixed_6a.branch3x3", "Mixed_6a.branch3x3dbl_3", "Mixed_7a.branch3x3_2", "Mixed_7a.branch7x7x3_4"}
_VALID = {"Conv2d_2a_3x3", "Conv2d_4a_3x3", "AuxLogits.conv1"} | _STRIDE2  # no padding


def _bconv(sd, p, x):
    kh, kw = sd[p + ".conv.weight"].shape[2:]
    pad = (0, 0) if p in _VALID else (kh // 2, kw // 2)
    y = F.conv2d(x, sd[p + ".conv.weight"], None, 2 if p in _STRIDE2 else 1, pad)
    return F.relu(_bn(sd, p + ".bn", y, eps=1e-3))


def _seq(sd, m, names, x):
    for n in names:
        x = _bconv(sd, f"{m}.{n}", x)
    return x


def _pool_branch(sd, m, x):
    return _bconv(sd, f"{m}.branch_pool", F.avg_pool2d(x, 3, 1, 1))


def ref_inception(sd, x, transform_input=True):
    if transform_input:
        x = torch.cat(
            [x[:, i : i + 1] * (s / 0.5) + (m - 0.5) / 0.5 for i, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))], 1
        )
    for n in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
        x = _bconv(sd, n, x)
    x = F.max_pool2d(x, 3, 2)
    x = _bconv(sd, "Conv2d_4a_3x3", _bconv(sd, "Conv2d_3b_1x1", x))
    x = F.max_pool2d(x, 3, 2)
    for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        x = torch.cat([_bconv(sd, m + ".branch1x1", x), _seq(sd, m, ["branch5x5_1", "branch5x5_2"], x),
                       _seq(sd, m, ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x), _pool_branch(sd, m, x)], 1)
    m = "Mixed_6a"
    x = torch.cat([_bconv(sd, m + ".branch3x3", x), _seq(sd, m, ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x), F.max_pool2d(x, 3, 2)], 1)
    for m in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
        x = torch.cat([_bconv(sd, m + ".branch1x1", x), _seq(sd, m, [f"branch7x7_{i}" for i in (1, 2, 3)], x),
                       _seq(sd, m, [f"branch7x7dbl_{i}" for i in range(1, 6)], x), _pool_branch(sd, m, x)], 1)
    m = "Mixed_7a"
    x = torch.cat([_seq(sd, m, ["branch3x3_1", "branch3x3_2"], x), _seq(sd, m, [f"branch7x7x3_{i}" for i in range(1, 5)], x), F.max_pool2d(x, 3, 2)], 1)
    for m in ("Mixed_7b", "Mixed_7c"):
        b3 = _bconv(sd, m + ".branch3x3_1", x)
        d = _seq(sd, m, ["branch3x3dbl_1", "branch3x3dbl_2"], x)
        x = torch.cat([_bconv(sd, m + ".branch1x1", x), _bconv(sd, m + ".branch3x3_2a", b3), _bconv(sd, m + ".branch3x3_2b", b3),
                       _bconv(sd, m + ".branch3x3dbl_3a", d), _bconv(sd, m + ".branch3x3dbl_3b", d), _pool_branch(sd, m, x)], 1)
    return F.linear(x.mean(dim=(2, 3)), sd["fc.weight"], sd["fc.bias"])


def ref_inception_aux(sd, x):
    """The auxiliary head on a Mixed_6e output (17 x 17 for a 299 x 299 image)."""
    a = _bconv(sd, "AuxLogits.conv1", _bconv(sd, "AuxLogits.conv0", F.avg_pool2d(x, 5, 3)))
    return F.linear(a.mean(dim=(2, 3)), sd["AuxLogits.fc.weight"], sd["AuxLogits.fc.bias"])


# ---------------------------------------------------------------------------------------------


# torchvision's documented sizes (1000-class heads; Inception-v3 with its auxiliary head)
PUBLISHED_PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032, "densenet121": 7_978_856, "densenet201": 20_013_928, "inception_v3": 27_161_264}


@needs_ref
@pytest.mark.parametrize("arch", sorted(TORCHVISION_ARCHS))
def test_state_dict_names_shapes_dtypes_and_order_equal_torchvision(arch):
    backbone = torchvision_backbone(arch)
    got = [(k, tuple(v.shape), str(v.dtype)) for k, v in backbone.state_dict().items()]
    assert got == _keys(arch)
    if arch in PUBLISHED_PARAMS:
        assert sum(p.numel() for p in backbone.parameters()) == PUBLISHED_PARAMS[arch]


@needs_ref
@pytest.mark.parametrize(
    "arch, reference",
    [("resnet18", ref_resnet), pytest.param("resnet50", ref_resnet, marks=pytest.mark.slow), pytest.param("densenet121", ref_densenet, marks=pytest.mark.slow)],
)
def test_backbone_with_torchvision_weights_equals_functional_reference(tmp_path, arch, reference):
    path = tmp_path / f"{arch}.pth"
    sd = torchvision_style_file(arch, path)
    model = audiocnn.create_model(f"imagenet_{arch}", num_classes=1000, imagenet_weights=str(path))
    x = torch.randn(2, 3, 64, 72)
    with torch.no_grad():
        got = model.backbone(x)
        want = reference({k: v.double() for k, v in sd.items()}, x.double())
    assert got.shape == (2, 1000)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4 * max(1.0, want.abs().max().item()))


@needs_ref
@pytest.mark.slow
def test_inception_with_torchvision_weights_equals_functional_reference(tmp_path):
    path = tmp_path / "inception_v3_google.pth"
    sd = torchvision_style_file("inception_v3", path)
    model = audiocnn.create_model("imagenet_inception_v3", num_classes=1000, imagenet_weights=str(path))
    assert model.backbone.transform_input and model.backbone.AuxLogits is None  # as torchvision's pretrained model
    with_aux = torchvision_backbone("inception_v3", aux_logits=True, transform_input=True)
    load_torchvision_weights(with_aux, str(path))
    x = torch.randn(2, 3, 80, 96)
    mixed_6e = torch.rand(1, 768, 17, 17)  # the auxiliary head needs 299 x 299 images; test it alone
    sd64 = {k: v.double() for k, v in sd.items()}
    with torch.no_grad():
        got = model.backbone(x)
        got_aux = with_aux.eval().AuxLogits(mixed_6e)
        want, want_aux = ref_inception(sd64, x.double()), ref_inception_aux(sd64, mixed_6e.double())
    for g, w in ((got, want), (got_aux, want_aux)):
        torch.testing.assert_close(g.double(), w, rtol=1e-4, atol=1e-4 * max(1.0, w.abs().max().item()))


@needs_ref
def test_new_head_for_another_class_count_keeps_every_other_weight(tmp_path):
    path = tmp_path / "densenet121-a639ec97.pth"
    sd = torchvision_style_file("densenet121", path)
    model = audiocnn.create_model("imagenet_densenet121", imagenet_weights=str(path), num_classes=50)
    own = model.backbone.state_dict()
    assert own["classifier.weight"].shape == (50, 1024) and model.num_classes == 50
    torch.testing.assert_close(own["features.denseblock2.denselayer3.conv2.weight"], sd["features.denseblock2.denselayer3.conv.2.weight"])
    torch.testing.assert_close(own["features.norm5.running_var"], sd["features.norm5.running_var"])
    assert model.init == "imagenet"


@needs_ref
def test_new_style_densenet_names_and_num_batches_tracked_also_load(tmp_path):
    path = tmp_path / "d.pth"
    sd = torchvision_style_file("densenet121", path, old_densenet_names=False)
    sd["features.norm0.num_batches_tracked"] = torch.tensor(7)
    torch.save(sd, path)
    b = torchvision_backbone("densenet121")
    assert load_torchvision_weights(b, path) == []
    assert int(b.state_dict()["features.norm0.num_batches_tracked"]) == 7


@needs_ref
def test_mismatched_file_lists_every_problem(tmp_path):
    path = tmp_path / "bad.pth"
    sd = torchvision_style_file("resnet18", path)
    del sd["layer1.0.conv1.weight"]
    sd["layer9.weight"] = torch.zeros(1)
    sd["layer2.0.bn1.weight"] = torch.ones(3)
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as e:
        audiocnn.create_model("imagenet_resnet18", imagenet_weights=str(path))
    msg = str(e.value)
    assert "missing key layer1.0.conv1.weight" in msg and "unexpected key layer9.weight" in msg
    assert "layer2.0.bn1.weight: expected (128,), got (3,)" in msg and str(path) in msg


def test_imagenet_init_without_a_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot download weights"):
        audiocnn.create_model("imagenet_densenet201", init="imagenet", num_classes=50)
    with pytest.raises(FileNotFoundError, match="densenet201-c1103571.pth"):
        audiocnn.create_model("imagenet_densenet201", imagenet_weights=str(tmp_path / "densenet201-c1103571.pth"))
    with pytest.raises(ValueError, match="contradicts"):
        audiocnn.create_model("imagenet_resnet18", init="random", imagenet_weights="x.pth")


def _std(t):
    return t.float().std().item()


def test_random_initialisation_follows_torchvision():
    r = torchvision_backbone("resnet50")
    w = r.layer3[1].conv2.weight  # kaiming normal, fan-out, ReLU gain
    assert abs(_std(w) / (2.0 / (w.shape[0] * 9)) ** 0.5 - 1) < 0.05
    assert torch.equal(r.layer3[1].bn2.weight, torch.ones(256)) and torch.equal(r.layer3[1].bn2.bias, torch.zeros(256))
    d = torchvision_backbone("densenet121")
    w = d.features.denseblock3.denselayer5.conv1.weight  # kaiming normal, fan-in
    assert abs(_std(w) / (2.0 / w[0].numel()) ** 0.5 - 1) < 0.05
    assert torch.equal(d.classifier.bias, torch.zeros(1000))
    i = torchvision_backbone("inception_v3")
    assert abs(_std(i.Mixed_6b.branch7x7_2.conv.weight) / 0.1 - 1) < 0.05
    assert abs(_std(i.fc.weight) / 0.1 - 1) < 0.05
    assert abs(_std(i.AuxLogits.fc.weight) / 0.001 - 1) < 0.05


@pytest.mark.parametrize("arch", ["densenet121", "inception_v3"])
def test_min_size_is_the_smallest_accepted_width(arch):
    b = torchvision_backbone(arch).eval()
    with torch.no_grad():
        assert b(torch.zeros(1, 3, 80, b.min_size)).shape == (1, 1000)
        with pytest.raises(RuntimeError):
            b(torch.zeros(1, 3, 80, b.min_size - 1))


def test_audio_model_is_frontend_then_backbone():
    model = audiocnn.create_model("test_imagenet_resnet", num_classes=4)
    assert model.info.input == "multi-res mel" and model.info.gradcam_layer == "backbone.layer4"
    w = 0.1 * torch.randn(2, model.sample_rate)
    with torch.no_grad():
        img = model.frontend(w)
        assert img.shape == (2, 3, 128, 50)
        torch.testing.assert_close(model(w)["logits"], model.backbone(img))


def test_audiocnn_checkpoint_round_trip_and_transfer_to_another_class_count(tmp_path):
    from audiocnn.models import save_checkpoint

    model = audiocnn.create_model("test_imagenet_resnet", num_classes=4)
    path = save_checkpoint(model, tmp_path / "m.pth")
    again = audiocnn.create_model("test_imagenet_resnet", checkpoint=path)
    w = 0.1 * torch.randn(2, 16000)
    with torch.no_grad():
        torch.testing.assert_close(again(w)["logits"], model(w)["logits"])
    other = audiocnn.create_model("test_imagenet_resnet", checkpoint=path, num_classes=9)
    assert other.num_classes == 9
    torch.testing.assert_close(other.backbone.layer2[0].conv1.weight, model.backbone.layer2[0].conv1.weight)
