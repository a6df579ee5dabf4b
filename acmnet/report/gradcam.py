"""Grad-CAM of place-recognition similarity (the paper's Figures 4-6).

For a query and its top-1 reference, the query's CAM shows which regions raise the cosine
similarity of its descriptor to the reference's descriptor, and the reference's CAM the same the
other way round. The CAM target is that similarity (`SimilarityTarget`), the model is the
descriptor function (`DescriptorModel`) and the layer is one encoder stage (`cam_stage`,
`target_layer`): a grid descriptor's own stage, otherwise the deepest stage whose map has at least
4x4 cells at the input size. Weights are never updated: the parameters are frozen while the CAM runs (the
gradient flows from the input), so no `.grad` is left on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from acmnet.io import atomic_path

if TYPE_CHECKING:
    from acmnet.artifacts import Manifest, Retrieval
    from acmnet.config import Config
    from acmnet.data.positives import PositiveSets

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


class SimilarityTarget:
    """pytorch-grad-cam target: cosine similarity of the image's descriptor to a fixed descriptor.

    Called with one image's model output (D,) (or a batch (B, D)); both vectors are L2-normalised
    first, so the score is the dot product of unit descriptors whether or not the describer
    normalises its output.
    """

    def __init__(self, reference_descriptor: torch.Tensor | np.ndarray):
        reference = torch.as_tensor(reference_descriptor).detach().float().reshape(-1)
        self.reference = F.normalize(reference, dim=0)

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        reference = self.reference.to(model_output.device)
        return (F.normalize(model_output.float(), dim=-1) * reference).sum(dim=-1)


class DescriptorModel(nn.Module):
    """A describer as a module whose forward is the descriptor: (B, 3, H, W) in [0, 1] -> (B, D).

    `describer` is an nn.Module (e.g. PretrainedDescriber) or a bound method of one (e.g.
    `AcmNet.descriptors`); that module is registered here, so `.eval()`, `.parameters()` and the
    Grad-CAM hooks on its layers work.
    """

    def __init__(self, describer: Callable[[torch.Tensor], torch.Tensor] | nn.Module):
        super().__init__()
        if isinstance(describer, nn.Module):
            self.owner = describer
            self._forward = describer.__call__
        elif isinstance(getattr(describer, "__self__", None), nn.Module):
            self.owner = describer.__self__
            self._forward = describer
        else:
            raise TypeError(
                "describer must be an nn.Module or a method of one (e.g. model.descriptors), "
                f"not {type(describer).__name__}: "
                "Grad-CAM needs the module to find its parameters and layers"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._forward(images)


def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def cam_stage(describer: nn.Module, image_size: tuple[int, int]) -> int:
    """The encoder stage whose activations the figure's Grad-CAM weighs (an index of `feature_info`).

    A grid descriptor depends on its own stage only, so that stage; otherwise the deepest stage
    whose map has at least 4x4 cells at this image size (at 64 px the last stage of a stride-32
    backbone is 2x2, where Grad-CAM's positive part is often empty; at 224 px it is 7x7).
    """
    options = getattr(describer, "options", None)
    if getattr(options, "descriptor", None) == "grid":
        return int(options.grid_stage)
    if getattr(describer, "pool_kind", None) == "grid":
        return int(describer.grid_stage)
    reductions = [int(i["reduction"]) for i in describer.encoder.feature_info]
    fits = [k for k, r in enumerate(reductions) if min(image_size) // r >= 4]
    return fits[-1] if fits else 0


def target_layer(encoder: nn.Module, stage: int | None = None) -> nn.Module:
    """Stage `stage` of a backbone (an index of its `feature_info`; None: the last): the layer whose
    activations Grad-CAM weighs (the figures take `cam_stage`'s).

    A timm backbone declares its stages in `encoder.feature_info` (a list of dicts, or a timm
    FeatureInfo); an entry's `module` names its stage, the last entry's the final stage (`layer4` in a ResNet,
    `blocks.6` in an EfficientNet, `stages.3` in a ConvNeXt): that submodule is taken. It must
    contain a Conv2d, which rules out transformers (their stages emit tokens; Grad-CAM would need
    a reshape_transform). Without `feature_info`, the last registered nn.Conv2d is taken. An
    AcmNet is accepted too (its `.encoder` is used).
    """
    if hasattr(encoder, "encoder") and isinstance(encoder.encoder, nn.Module) and not hasattr(encoder, "feature_info"):
        encoder = encoder.encoder
    name = type(encoder).__name__
    info = getattr(encoder, "feature_info", None)
    if info:
        if hasattr(info, "module_name"):  # timm FeatureInfo (features_only models)
            names = (
                info.module_name()
                if not hasattr(info, "info")
                else [info.module_name(i) for i in range(len(info.info))]
            )
            module_name = names[-1 if stage is None else stage]
        else:
            module_name = info[-1 if stage is None else stage]["module"]
        layer = None
        for candidate in (module_name, module_name.replace(".", "_")):
            try:
                layer = encoder.get_submodule(candidate)
                break
            except AttributeError:
                continue
        if layer is None:
            raise ValueError(
                f"backbone {name}: feature_info names its last stage `{module_name}`, which is not a submodule"
            )
        if not _has_conv(layer):
            raise ValueError(
                f"backbone {name} has no convolutional last stage (`{module_name}` holds no Conv2d, e.g. a vision "
                "transformer): Grad-CAM here needs a CNN backbone whose last stage emits a (B, C, h, w) feature map"
            )
        return layer
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(
            f"backbone {name} has no nn.Conv2d layer (and no timm feature_info): Grad-CAM needs a convolutional "
            "feature map; give the layer explicitly"
        )
    return convs[-1]


def _as_float_images(images: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """Float (N, 3, H, W) in [0, 1] as given, or uint8 (N, H, W, 3) (e.g. cache rows) converted; on `device`."""
    tensor = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
    if tensor.dtype == torch.uint8:
        tensor = tensor.permute(0, 3, 1, 2).float().div(255.0)
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise ValueError(
            "images must be float (N, 3, H, W) in [0, 1] or uint8 (N, H, W, 3), "
            f"not {tuple(tensor.shape)} {tensor.dtype}"
        )
    return tensor.detach().to(device).float().contiguous()


def _cams(
    model: DescriptorModel, layer: nn.Module, images: torch.Tensor, targets: list[SimilarityTarget], batch_size: int
) -> np.ndarray:
    from pytorch_grad_cam import GradCAM

    # The parameters are frozen by the caller: the input carries the gradient to the layer.
    cam = GradCAM(model=model, target_layers=[layer])
    try:
        out = []
        with torch.enable_grad():
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size].detach().requires_grad_(True)
                out.append(cam(input_tensor=batch, targets=targets[start : start + batch_size]))
    finally:
        cam.activations_and_grads.release()
    return np.clip(np.concatenate(out).astype(np.float32), 0.0, 1.0)


def similarity_cams_and_scores(
    describer: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    encoder: nn.Module,
    query_images: torch.Tensor | np.ndarray,
    reference_images: torch.Tensor | np.ndarray,
    layer: nn.Module | None = None,
    batch_size: int = 8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`similarity_cams`, plus the cosine similarity of each pair, float32 (N,)."""
    model = DescriptorModel(describer)
    layer = target_layer(encoder) if layer is None else layer
    if not any(m is layer for m in model.modules()):
        raise ValueError("the target layer is not part of the describer: pass the describer's own encoder")
    params = list(model.parameters())
    if not params:
        raise ValueError("the describer has no parameters: Grad-CAM needs a network")
    device = params[0].device
    queries = _as_float_images(query_images, device)
    references = _as_float_images(reference_images, device)
    if len(queries) != len(references):
        raise ValueError(
            f"{len(queries)} query images but {len(references)} reference images: give one reference per query"
        )
    if len(queries) == 0:
        empty = np.zeros((0, *queries.shape[-2:]), dtype=np.float32)
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    modes = [(m, m.training) for m in model.owner.modules()]  # restored exactly (e.g. frozen batch norm)
    flags = [p.requires_grad for p in params]
    try:
        model.eval()
        with torch.no_grad():
            query_desc = torch.cat(
                [model(queries[s : s + batch_size]) for s in range(0, len(queries), batch_size)]
            ).float()
            ref_desc = torch.cat(
                [model(references[s : s + batch_size]) for s in range(0, len(references), batch_size)]
            ).float()
        similarity = (F.normalize(query_desc, dim=-1) * F.normalize(ref_desc, dim=-1)).sum(dim=-1)
        for p in params:
            p.requires_grad_(False)
        query_cams = _cams(model, layer, queries, [SimilarityTarget(d) for d in ref_desc], batch_size)
        reference_cams = _cams(model, layer, references, [SimilarityTarget(d) for d in query_desc], batch_size)
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        for module, training in modes:
            module.training = training
    return query_cams, reference_cams, similarity.cpu().numpy().astype(np.float32)


def similarity_cams(
    describer: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    encoder: nn.Module,
    query_images: torch.Tensor | np.ndarray,
    reference_images: torch.Tensor | np.ndarray,
    layer: nn.Module | None = None,
    batch_size: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAMs of matched pairs (query i, its top-1 reference i): float32 (N, H, W) in [0, 1] each.

    The query's CAM explains its similarity to the reference's descriptor, the reference's CAM
    its similarity to the query's descriptor. Images: float (N, 3, H, W) in [0, 1] (or uint8
    (N, H, W, 3)). `describer`: e.g. `model.descriptors`; `encoder`: its backbone, whose last
    convolutional stage is the CAM layer unless `layer` is given. The model runs in eval mode,
    its parameters are frozen meanwhile (no parameter gradients, no update), and its previous
    mode and requires_grad flags are restored afterwards.
    """
    query_cams, reference_cams, _ = similarity_cams_and_scores(
        describer, encoder, query_images, reference_images, layer, batch_size
    )
    return query_cams, reference_cams


def overlay(image: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Jet heat map of `cam` (H, W) in [0, 1] over uint8 RGB `image` (H, W, 3): uint8 (H, W, 3)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(image.astype(np.float32) / 255.0, cam, use_rgb=True, image_weight=image_weight)


def _spread(positions: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` entries of `positions`, evenly spaced from first to last."""
    if len(positions) <= count:
        return positions
    return positions[np.unique(np.linspace(0, len(positions) - 1, count).round().astype(int))]


def _cam_title(role: str, other: str, cam: np.ndarray, similarity: float) -> str:
    if cam.max() <= 0:  # every location lowers the similarity: Grad-CAM's ReLU leaves nothing
        return f"{role} Grad-CAM, similarity {similarity:.3f}\n(no region raises it)"
    return f"{role} Grad-CAM, similarity {similarity:.3f}\n(what raises it, to the {other})"


@dataclass
class Examples:
    """The chosen top-1 retrievals: per kind (`correct`, `failed`) the positions in `pairs`;
    `pairs` holds (query manifest row, reference manifest row), `images` the uint8 pairs."""

    kinds: dict[str, np.ndarray]
    query_rows: np.ndarray
    reference_rows: np.ndarray
    query_images: np.ndarray
    reference_images: np.ndarray
    n_correct: int
    n_queries: int


def choose_examples(
    manifest: Manifest,
    images: Callable[[np.ndarray], np.ndarray],
    retrieval: Retrieval,
    positives: PositiveSets,
    per_kind: int,
) -> Examples:
    """`per_kind` correct and `per_kind` failed top-1 retrievals, evenly spread over the queries;
    correct: the top-1 reference is one of the query's `positives`. `images`: manifest rows to their
    uint8 images (`acmnet.data.loader.manifest_images`: the cache's rows, or decoded from files)."""
    top1 = retrieval.indices[:, 0]
    correct = positives.hits(top1[:, None])[:, 0]
    picked = {
        "correct": _spread(np.flatnonzero(correct), per_kind),
        "failed": _spread(np.flatnonzero(~correct), per_kind),
    }
    chosen = np.concatenate(list(picked.values())).astype(np.int64)
    q_rows, r_rows = retrieval.query_rows[chosen], retrieval.reference_rows[top1[chosen]]
    pictures = [images(rows) for rows in (q_rows, r_rows)]
    offsets = {"correct": 0, "failed": len(picked["correct"])}
    kinds = {k: offsets[k] + np.arange(len(v)) for k, v in picked.items()}
    return Examples(
        kinds,
        q_rows,
        r_rows,
        *[np.ascontiguousarray(a) for a in pictures],
        int(correct.sum()),
        len(retrieval.query_rows),
    )


def _panel_row(
    fig: plt.Figure,
    cells: list,
    kind: str,
    frame: pd.DataFrame,
    ex: Examples,
    k: int,
    cams: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """One example: query | query Grad-CAM | top-1 reference | reference Grad-CAM."""
    q_cams, r_cams, sims = cams
    q_row, r_row = frame.iloc[ex.query_rows[k]], frame.iloc[ex.reference_rows[k]]
    color = "tab:green" if kind == "correct" else "tab:red"
    panels = [
        (ex.query_images[k], f"{kind}: {q_row['condition']} query\nplace {q_row['place']}"),
        (overlay(ex.query_images[k], q_cams[k]), _cam_title("query", "reference", q_cams[k], sims[k])),
        (
            ex.reference_images[k],
            f"top-1 {r_row['condition']} reference\nretrieved place {r_row['place']}, similarity {sims[k]:.3f}",
        ),
        (overlay(ex.reference_images[k], r_cams[k]), _cam_title("reference", "query", r_cams[k], sims[k])),
    ]
    for c, (image, title) in enumerate(panels):
        ax = fig.add_subplot(cells[c])
        ax.imshow(image)
        ax.set_title(title, fontsize=8, color=color if c in (0, 2) else "black")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2.5 if c in (0, 2) else 0.5)


def draw_examples(
    frame: pd.DataFrame, ex: Examples, cams: tuple[np.ndarray, np.ndarray, np.ndarray], layer: str = ""
) -> plt.Figure:
    """The figure: one row per example, or one text row for a kind without examples."""
    rows = [(kind, int(k)) for kind, ks in ex.kinds.items() for k in ks]
    rows += [(kind, None) for kind, ks in ex.kinds.items() if not len(ks)]
    rows.sort(key=lambda r: list(ex.kinds).index(r[0]))
    heights = [1.0 if k is not None else 0.25 for _, k in rows]
    fig = plt.figure(figsize=(10.0, 0.6 + 3.0 * sum(heights)))
    grid = fig.add_gridspec(len(rows), 4, height_ratios=heights)
    for r, (kind, k) in enumerate(rows):
        if k is None:
            ax = fig.add_subplot(grid[r, :])
            ax.axis("off")
            ax.text(
                0.5,
                0.5,
                f"no {kind} top-1 retrieval among the {ex.n_queries} queries (correct: a positive of the query)",
                ha="center",
                va="center",
                fontsize=11,
            )
            continue
        _panel_row(fig, [grid[r, c] for c in range(4)], kind, frame, ex, k, cams)
    fig.suptitle(
        f"Grad-CAM of top-1 retrievals: {len(ex.kinds['correct'])} correct, {len(ex.kinds['failed'])} "
        f"failed ({ex.n_correct}/{ex.n_queries} correct)" + (f"\n{layer}" if layer else ""),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def gradcam_figure(
    cfg: Config,
    method: str,
    manifest_path: Path,
    cache_path: Path | None,
    retrieval_path: Path,
    checkpoint: Path,
    positives_path: Path,
    out_paths: Sequence[Path],
    per_kind: int = 3,
    *,
    root: Path | None = None,
) -> list[Path]:
    """Grad-CAM of `per_kind` correct and `per_kind` failed top-1 retrievals of a trained method.

    Rows: query | query Grad-CAM | top-1 reference | reference Grad-CAM; correct means the top-1
    reference is one of the query's positives (`positives_path`, the dataset's ground truth). The
    describer is the method's own (its kind builds it from the checkpoint), the layer the encoder
    stage `cam_stage` picks (a grid descriptor's own, else the deepest with at least 4x4 cells).
    The retrieval and the checkpoint must be `method`'s (and the retrieval made with that
    checkpoint), refused otherwise. Each of `out_paths` is written atomically, its format picked by
    its suffix (.png, .pdf or .svg). The images are the cache's rows, or, without a cache (a dataset
    that is not cached), decoded from the files under `root` as the cache decodes them.
    """
    from acmnet.artifacts import (
        check_made_from,
        check_method,
        check_trained_for,
        load_checkpoint,
        load_manifest,
        load_positives,
        load_retrieval,
    )
    from acmnet.data.loader import manifest_images
    from acmnet.device import resolve_device
    from acmnet.methods import method_of

    out_paths = [Path(p) for p in out_paths]
    bad = [str(p) for p in out_paths if p.suffix.lower() not in FIGURE_SUFFIXES]
    if not out_paths or bad:
        raise ValueError(
            f"figure path(s) {bad or '(none)'}: give one or more, the suffix picks the format, one of "
            f"{', '.join(FIGURE_SUFFIXES)}"
        )
    manifest = load_manifest(manifest_path)
    images = manifest_images(manifest, cache_path, root, tuple(cfg.image_size))
    retrieval = load_retrieval(retrieval_path, manifest)
    check_method(retrieval, "retrieval", method)
    trained = load_checkpoint(Path(checkpoint))
    check_trained_for(trained, method, cfg.settings("train", method=method))
    check_made_from(retrieval, "checkpoint", trained)
    positives = load_positives(positives_path, manifest)
    ex = choose_examples(manifest, images, retrieval, positives.sets, per_kind)
    describer = method_of(cfg, method).build(cfg, method, cfg.method(method).options, trained)
    describer = describer.to(resolve_device(cfg.device))
    stage = cam_stage(describer, cfg.image_size)
    layer = target_layer(describer.encoder, stage)
    cams = similarity_cams_and_scores(describer, describer.encoder, ex.query_images, ex.reference_images, layer)
    shown = sum(int(c.max() > 0) for c in (*cams[0], *cams[1]))
    reduction = describer.encoder.feature_info[stage]["reduction"]
    h, w = (s // reduction for s in cfg.image_size)
    size = "x".join(map(str, cfg.image_size))
    where = f"CAM layer: encoder stage {stage} (stride {reduction}, {h}x{w} cells at {size} px)"
    print(f"{where}; {shown} of {2 * len(ex.query_rows)} panels show a region that raises the similarity")
    fig = draw_examples(manifest.frame, ex, cams, where)
    try:
        for path in out_paths:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=150)
    finally:
        plt.close(fig)
    return out_paths
