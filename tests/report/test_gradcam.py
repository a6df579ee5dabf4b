import re
from dataclasses import asdict

import matplotlib
import numpy as np
import pandas as pd
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from acmnet.artifacts import ProvenanceError, load_checkpoint
from acmnet.config import ModelConfig
from acmnet.config_loader import config_from_dict
from acmnet.methods.acmnet import build_model
from acmnet.report.gradcam import (
    DescriptorModel,
    SimilarityTarget,
    gradcam_figure,
    similarity_cams,
    similarity_cams_and_scores,
    target_layer,
)
from tests.conftest import write_cache, write_checkpoint, write_manifest, write_positives, write_retrieval

BACKBONES = ["test_efficientnet", "test_resnet"]
H, W = 96, 128  # not square, so a swapped height/width shows


@pytest.fixture(autouse=True)
def one_thread():
    # The test machine's cores are shared: intra-op threads contend and slow tiny models ~40x.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(backbone: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = ModelConfig(backbone=backbone, pretrained=False, projector_hidden=32, projector_dim=16, rotation_hidden=8)
    return build_model(cfg), cfg


def images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, H, W, generator=torch.Generator().manual_seed(seed))


def reference_gradcam(model, layer, image, reference_descriptor):
    """Grad-CAM by hand: ReLU(sum_k mean(dS/dA_k) A_k), min-max scaled, upsampled, min-max scaled."""
    store = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: store.__setitem__("a", output))
    try:
        x = image[None].clone().requires_grad_(True)
        s = (F.normalize(model.descriptors(x), dim=-1) * F.normalize(reference_descriptor, dim=-1)).sum()
        (grad,) = torch.autograd.grad(s, store["a"])
    finally:
        handle.remove()
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * store["a"]).sum(dim=1, keepdim=True))
    cam = cam - cam.min()
    cam = cam / (cam.max() + 1e-7)
    cam = F.interpolate(cam, size=(H, W), mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / (cam.max() + 1e-7)).detach().numpy()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_cams_shape_range_and_match_a_hand_computed_similarity_gradcam(backbone):
    model, _ = tiny(backbone)
    model.eval()
    n = 4
    queries, references = images(n, 1), images(n, 2)
    query_cams, reference_cams, sims = similarity_cams_and_scores(model.descriptors, model.encoder, queries, references)
    for cams in (query_cams, reference_cams):
        assert cams.shape == (n, H, W) and cams.dtype == np.float32
        assert cams.min() >= 0.0 and cams.max() <= 1.0
        assert np.isfinite(cams).all()
    with torch.no_grad():
        q, r = model.descriptors(queries), model.descriptors(references)
    np.testing.assert_allclose(sims, (q * r).sum(-1).numpy(), rtol=1e-5, atol=1e-6)

    layer = model.encoder.layer4 if backbone == "test_resnet" else model.encoder.blocks[-1]  # the last stage
    first_conv = next(m for m in model.encoder.modules() if isinstance(m, nn.Conv2d))
    checked = {"query": 0, "reference": 0}
    for i in range(n):
        # The query's CAM is the Grad-CAM of its similarity to the reference's descriptor, and the
        # reference's the other way round, at the last convolutional stage.
        for role, cams, image, other in (
            ("query", query_cams, queries, r),
            ("reference", reference_cams, references, q),
        ):
            expected = reference_gradcam(model, layer, image[i], other[i])
            np.testing.assert_allclose(cams[i], expected, atol=1e-4, err_msg=f"{role} {i}")
            if expected.max() < 0.5:
                continue  # a random network's CAM may be all zero (no location raises the similarity)
            checked[role] += 1
            # The comparison discriminates: another target (dissimilarity, i.e. the similarity to the
            # negated descriptor) or another layer (the first convolution) gives another map.
            # (Random noise images all look alike to a random network, so the similarity to another
            # pair's image would give nearly the same map; the colour test below covers that.)
            wrong_target = reference_gradcam(model, layer, image[i], -other[i])
            wrong_layer = reference_gradcam(model, first_conv, image[i], other[i])
            assert np.abs(cams[i] - wrong_target).max() > 0.1, f"{role} {i}"
            assert np.abs(cams[i] - wrong_layer).max() > 0.1, f"{role} {i}"
    assert checked["query"] and checked["reference"], checked  # some non-degenerate maps were compared


def test_similarity_target_score_is_the_cosine_similarity():
    gen = torch.Generator().manual_seed(0)
    output, reference = torch.randn(5, 16, generator=gen) * 3, torch.randn(16, generator=gen) * 2
    expected = F.cosine_similarity(output, reference[None], dim=-1)
    target = SimilarityTarget(reference)
    torch.testing.assert_close(target(output), expected)
    for i in range(5):  # pytorch-grad-cam calls the target on one image's output (D,)
        torch.testing.assert_close(target(output[i]), expected[i])
    torch.testing.assert_close(SimilarityTarget(reference.numpy())(output), expected)  # numpy accepted
    # with a real model's (unit) descriptors the score is their dot product
    model, _ = tiny("test_efficientnet")
    model.eval()
    with torch.no_grad():
        d = model.descriptors(images(2, 3))
    torch.testing.assert_close(SimilarityTarget(d[1])(d[0]), (d[0] * d[1]).sum())


class ColourEncoder(nn.Module):
    """A hand-made CNN: per-pixel colour channels (a 1x1 identity conv stage), average-pooled."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1, bias=False)
        self.stage = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU())
        for conv in (self.stem, self.stage[0]):
            nn.init.dirac_(conv.weight)
        self.feature_info = [
            {"module": "stem", "num_chs": 3, "reduction": 1},
            {"module": "stage", "num_chs": 3, "reduction": 1},
        ]

    def forward(self, images):
        return self.stage(self.stem(images)).mean(dim=(2, 3))


class ColourDescriber(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = ColourEncoder()

    def forward(self, images):
        return F.normalize(self.encoder(images), dim=-1)


def halves(left, right):
    image = torch.zeros(3, 8, 16)
    image[left, :, :8] = 1.0
    image[right, :, 8:] = 1.0
    return image


def test_cam_lies_on_the_content_shared_with_the_other_image():
    # Query: red | green; reference: blue | red. They share only the red half, on opposite sides.
    # The similarity rises with red in either image, falls with the unshared colour: so the query's
    # CAM must cover its left half only and the reference's its right half only. A target that
    # used the image's own descriptor would give no evidence at all, a swapped query/reference
    # would put the mass on the other side.
    red, green, blue = 0, 1, 2
    describer = ColourDescriber()
    query, reference = halves(red, green)[None], halves(blue, red)[None]
    query_cams, reference_cams = similarity_cams(describer, describer.encoder, query, reference)
    assert query_cams.shape == (1, 8, 16)
    assert query_cams[0, :, :8].min() > 0.99 and query_cams[0, :, 8:].max() < 1e-6
    assert reference_cams[0, :, 8:].min() > 0.99 and reference_cams[0, :, :8].max() < 1e-6
    # the same from uint8 (N, H, W, 3) images, as the image cache stores them
    as_uint8 = [(x.permute(0, 2, 3, 1) * 255).to(torch.uint8).numpy() for x in (query, reference)]
    query_u8, reference_u8 = similarity_cams(describer, describer.encoder, *as_uint8)
    np.testing.assert_allclose(query_u8, query_cams, atol=1e-6)
    np.testing.assert_allclose(reference_u8, reference_cams, atol=1e-6)
    # and a CNN-sized case through a random timm backbone: both images equal, the CAM is defined
    # (float32, in range) even though the gradient of a maximal cosine is (numerically) zero
    model, _ = tiny("test_resnet")
    same = images(1, 4)
    q_cam, _r_cam = similarity_cams(model.descriptors, model.encoder, same, same)
    assert np.isfinite(q_cam).all() and q_cam.min() >= 0 and q_cam.max() <= 1


@pytest.mark.parametrize("backbone", BACKBONES)
def test_parameters_unchanged_and_no_grad_left(backbone):
    model, _ = tiny(backbone)
    model.train()  # the caller's modes are restored afterwards; the CAM itself runs in eval mode
    model.encoder.bn1.eval()  # e.g. a frozen batch norm: mixed modes are kept as they were
    model.projector[0].weight.requires_grad_(False)  # a caller's frozen flag is kept as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    seen_modes = []
    handle = model.encoder.register_forward_pre_hook(lambda m, i: seen_modes.append(m.training))
    with torch.no_grad():  # a caller's no_grad context does not break the CAM
        query_cams, _ = similarity_cams(model.descriptors, model.encoder, images(2, 5), images(2, 6))
    handle.remove()
    assert query_cams.max() > 0
    assert seen_modes and not any(seen_modes)
    assert model.training and model.projector.training and not model.encoder.bn1.training
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0, msg=name)  # BN running stats too
    for name, param in model.named_parameters():
        assert param.grad is None, name
        assert param.requires_grad == flags[name], name


def test_target_layer_is_the_last_convolutional_stage():
    resnet, _ = tiny("test_resnet")
    assert target_layer(resnet.encoder) is resnet.encoder.layer4
    assert target_layer(resnet) is resnet.encoder.layer4  # an AcmNet: its encoder
    effnet, _ = tiny("test_efficientnet")
    assert target_layer(effnet.encoder) is effnet.encoder.blocks[-1]
    # without timm's feature_info: the last Conv2d
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert target_layer(plain) is plain[2]
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        target_layer(nn.Sequential(nn.Flatten(), nn.Linear(12, 4)))
    vit = timm.create_model("test_vit", pretrained=False, num_classes=0)
    with pytest.raises(ValueError, match="no convolutional last stage"):
        target_layer(vit)


def test_descriptor_model_accepts_modules_and_their_methods():
    model, _ = tiny("test_efficientnet")
    model.eval()
    x = images(2, 7)
    wrapped = DescriptorModel(model.descriptors)
    assert wrapped.owner is model
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), model.descriptors(x))
    describer = ColourDescriber()
    assert DescriptorModel(describer).owner is describer
    with pytest.raises(TypeError, match="nn.Module"):
        DescriptorModel(lambda images: images.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="not part of the describer"):
        similarity_cams(describer, model.encoder, x[:, :, :8, :16], x[:, :, :8, :16])


def write_case(tmp_path, indices, size=(64, 64)):
    """Manifest (4 references, 4 queries in two sets), image cache, retrieval.npz and checkpoint."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    frame = pd.DataFrame(
        {
            "image": names,
            "role": ["reference"] * 4 + ["query"] * 4,
            "place": [0, 10, 20, 30, 0, 10, 20, 30],
            "condition": ["summer"] * 4 + ["winter", "winter", "night", "night"],
        }
    )
    manifest = write_manifest(frame, tmp_path / "manifest.csv")
    write_cache(manifest, tmp_path, tmp_path / "images.npy", size)
    model, model_cfg = tiny("test_efficientnet")
    cfg = config_from_dict(
        {
            "image_size": list(size),
            "model": asdict(model_cfg),
            "device": "cpu",
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
        }
    )
    write_checkpoint(tmp_path / "checkpoint.pt", model, cfg, "acmnet")
    write_retrieval(
        tmp_path, manifest, indices, name="retrieval", checkpoint=load_checkpoint(tmp_path / "checkpoint.pt")
    )
    return [
        cfg,
        "acmnet",
        *[tmp_path / name for name in ("manifest.csv", "images.npy", "retrieval.npz", "checkpoint.pt")],
    ]


def test_gradcam_figure_end_to_end_png_and_pdf(tmp_path):
    # queries 0 and 2 retrieve their own place (correct), 1 and 3 a place 20 away (failed at tolerance 5)
    inputs = write_case(tmp_path, [[0, 1], [3, 1], [2, 0], [1, 3]])
    out = [tmp_path / "figs" / "gradcam.png", tmp_path / "figs" / "gradcam.pdf"]
    written = gradcam_figure(*inputs, positives_path=write_positives(inputs[2], 5), out_paths=out, per_kind=3)
    assert written == out
    with Image.open(out[0]) as png:
        assert png.format == "PNG" and png.size[0] > 500 and png.size[1] > 500
    assert out[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["gradcam.pdf", "gradcam.png"]  # no temp files


def test_gradcam_figure_says_when_a_kind_has_no_example(tmp_path):
    inputs = write_case(tmp_path, [[0], [1], [2], [3]])  # every query correct
    out = tmp_path / "all_correct.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        gradcam_figure(*inputs, positives_path=write_positives(inputs[2], 0), out_paths=[out], per_kind=1)
    text = out.read_text()
    assert "no failed top-1 retrieval among the 4 queries" in text
    assert "correct: winter query" in text and "no correct" not in text
    assert "1 correct, 0 failed (4/4 correct)" in text

    with pytest.raises(ValueError, match="suffix"):
        gradcam_figure(*inputs, positives_path=write_positives(inputs[2], 0), out_paths=[tmp_path / "figure.jpgx"])

    other = tmp_path / "none_correct"
    other.mkdir()
    inputs = write_case(other, [[2], [3], [0], [0]])  # every query wrong
    out = other / "none_correct.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        gradcam_figure(*inputs, positives_path=write_positives(inputs[2], 0), out_paths=[out], per_kind=2)
    text = out.read_text()
    assert "no correct top-1 retrieval among the 4 queries" in text
    assert "failed: winter query" in text and "failed: night query" in text
    assert "retrieved place 20" in text and re.search(r"similarity -?[01]\.\d{3}", text)


def test_gradcam_of_a_dataset_without_a_cache_decodes_its_images_from_the_files(tmp_path):
    """Issue 19: a dataset that is not cached (evaluation only): the same examples, their images
    decoded from the files as the cache decodes them, the same CAMs."""
    from acmnet.artifacts import load_manifest, load_positives, load_retrieval
    from acmnet.data.loader import manifest_images
    from acmnet.report.gradcam import choose_examples

    cfg, method, manifest, cache, retrieval, checkpoint = write_case(tmp_path, [[0, 1], [3, 1], [2, 0], [1, 3]])
    loaded, found = load_manifest(manifest), load_retrieval(retrieval)
    positives = write_positives(manifest, 5)
    sets = load_positives(positives, loaded).sets
    chosen = [
        choose_examples(loaded, manifest_images(loaded, c, r, (64, 64)), found, sets, 3)
        for c, r in ((cache, None), (None, tmp_path))
    ]
    for name in ("query_rows", "reference_rows", "query_images", "reference_images"):
        assert getattr(chosen[0], name).tobytes() == getattr(chosen[1], name).tobytes(), name
    out = [tmp_path / "files.png"]
    assert gradcam_figure(cfg, method, manifest, None, retrieval, checkpoint, positives, out, root=tmp_path) == out


def test_gradcam_refuses_a_checkpoint_the_retrievals_were_not_made_with(tmp_path):
    inputs = write_case(tmp_path, [[0], [1], [2], [3]])
    other, _ = tiny("test_efficientnet", seed=1)
    inputs[-1] = write_checkpoint(tmp_path / "other.pt", other, inputs[0], "acmnet")
    with pytest.raises(
        ProvenanceError, match=r"retrieval\.npz was made from checkpoint .*checkpoint\.pt.*not from .*other\.pt"
    ):
        gradcam_figure(*inputs, positives_path=write_positives(inputs[2], 0), out_paths=[tmp_path / "x.png"])


def test_gradcam_refuses_another_methods_checkpoint_or_retrieval_and_a_stale_checkpoint(tmp_path):
    """Issue 18: files of another method are refused naming both methods, never drawn as this one's."""
    _, _, manifest, cache, retrieval, checkpoint = write_case(tmp_path, [[0], [1], [2], [3]])
    model, model_cfg = tiny("test_efficientnet")
    base = {
        "image_size": [64, 64],
        "model": asdict(model_cfg),
        "device": "cpu",
        "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
    }
    methods = {"acmnet": {"kind": "acmnet"}, "other": {"kind": "acmnet", "train": {"lr": 0.01}}}
    two = config_from_dict({**base, "methods": methods})
    positives = write_positives(manifest, 0)
    other = write_checkpoint(tmp_path / "other.pt", model, two, "other")
    with pytest.raises(ProvenanceError, match=r"other\.pt was trained for method other, not acmnet, with other"):
        gradcam_figure(two, "acmnet", manifest, cache, retrieval, other, positives, [tmp_path / "x.png"])
    with pytest.raises(ProvenanceError, match=r"retrieval\.npz was made for method acmnet, not other"):
        gradcam_figure(two, "other", manifest, cache, retrieval, other, positives, [tmp_path / "x.png"])
    stale = config_from_dict({**base, "train": {"lr": 0.5}})  # acmnet's settings changed since it was trained
    with pytest.raises(
        ProvenanceError,
        match=r"checkpoint\.pt was trained for method acmnet with other settings than the config gives acmnet .*"
        r"differing: method\.options\.train\): a stale or foreign checkpoint",
    ):
        gradcam_figure(stale, "acmnet", manifest, cache, retrieval, checkpoint, positives, [tmp_path / "x.png"])
    assert not (tmp_path / "x.png").exists()


def test_the_cam_layer_has_cells_to_show():
    """The CAM layer: a grid descriptor's own stage; else the deepest stage with at least 4x4
    cells (at 64 px a stride-32 last stage is 2x2, where the CAM is mostly empty)."""
    from acmnet.methods.acmnet import AcmNetDescriber, AcmNetOptions
    from acmnet.report.gradcam import cam_stage

    model, _ = tiny("test_efficientnet")
    reductions = [i["reduction"] for i in model.encoder.feature_info]
    projector = AcmNetDescriber(model, AcmNetOptions())
    assert reductions[cam_stage(projector, (64, 64))] == 16
    assert cam_stage(projector, (224, 224)) == len(reductions) - 1
    assert cam_stage(AcmNetDescriber(model, AcmNetOptions(descriptor="grid", grid_stage=1)), (64, 64)) == 1
    assert target_layer(model.encoder, 1) is model.encoder.get_submodule(model.encoder.feature_info[1]["module"])
