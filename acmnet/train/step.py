"""One training step's losses: L = w_C * L_C(P_A(E(x)), P_A(E(T_A x))) + lambda * L_P(P_G(E(R_k x)), k).

The encoder runs once over every view (`acmnet.train.views`); both heads and both losses follow,
under autocast when mixed precision is on (the losses themselves are computed in float32).
"""

from __future__ import annotations

import torch

from acmnet.config import TrainConfig
from acmnet.device import autocast
from acmnet.methods.acmnet import AcmNet
from acmnet.train.losses import contrastive_loss, positive_alignment, rotation_loss
from acmnet.train.monitor import alignment, collapse_measure, uniformity
from acmnet.train.views import Views, make_views

LOSS_TERMS = ("loss", "loss_contrastive", "loss_rotation", "rotation_accuracy", "positive_alignment")
# Health measures of the projector outputs z of the step (`acmnet.train.monitor`); NaN without the contrastive branch.
MONITOR_TERMS = ("collapse_std", "alignment", "uniformity")


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, too few images, replicas that disagree); the message names the step."""


class StepOutput(dict):
    """Loss terms and diagnostics of one step (tensors, keys `LOSS_TERMS` and `MONITOR_TERMS`); `loss` is the
    total to minimise."""


def set_train_mode(model: AcmNet, tcfg: TrainConfig) -> None:
    """Training mode, with the encoder's batch-norm layers in eval mode when `encoder_bn: frozen`."""
    model.train()
    if tcfg.encoder_bn == "frozen":
        for module in model.encoder.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def _rotation_features(feats: torch.Tensor, views: Views, tcfg: TrainConfig, first: int) -> torch.Tensor:
    """The features of the rotation views, in the order of `views.rotation_labels`, from `feats`
    whose first n rows are the originals' and whose rotated views start at row `first`."""
    n = views.n
    if tcfg.rotation_views == "all":
        return torch.cat([feats[:n], feats[first:]])
    return torch.where((views.rotation_labels == 0)[:, None], feats[:n], feats[first:])


def encode(model: torch.nn.Module, views: Views, tcfg: TrainConfig) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(features of [x; T_A(x)] (2n, D) or None, features of the rotation views or None).

    `encoder_passes: joint`: one pass over every view, the original's features shared by both
    branches (batch-norm statistics over the joint batch); `separate`: one pass per branch, the
    originals going through both (statistics of each branch's views alone).
    """
    n, contrastive, rotation = views.n, tcfg.contrastive_weight > 0, tcfg.rotation_weight > 0
    first_rot = 2 * n if contrastive else n
    if tcfg.encoder_passes == "joint" or not (contrastive and rotation):
        feats = model(views.batch)
        pair = feats[: 2 * n] if contrastive else None
        return pair, _rotation_features(feats, views, tcfg, first_rot) if rotation else None
    pair = model(views.batch[: 2 * n])
    rotated = model(torch.cat([views.batch[:n], views.batch[first_rot:]]))
    return pair, _rotation_features(rotated, views, tcfg, n)


def step_losses(
    model: AcmNet | torch.nn.parallel.DistributedDataParallel,
    views: Views,
    tcfg: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> StepOutput:
    """The encoder pass(es) over every view, then both heads and losses (autocast when `amp_dtype`)."""
    n = views.n
    core = getattr(model, "module", model)  # under DistributedDataParallel, the wrapped AcmNet
    zero = views.batch.new_zeros((), dtype=torch.float32)
    out = StepOutput(loss_contrastive=zero, positive_alignment=zero, loss_rotation=zero, rotation_accuracy=zero)
    out.update({k: torch.full_like(zero, float("nan")) for k in MONITOR_TERMS})
    with autocast(views.batch.device, amp_dtype):
        pair, rotated = encode(model, views, tcfg)
        if pair is not None:
            z = core.projector(pair)
            out["loss_contrastive"] = contrastive_loss(tcfg.contrastive, z[:n], z[n:], tcfg.tau)
            out["positive_alignment"] = positive_alignment(z[:n], z[n:]).detach()
            out.update(monitor_terms(z[:n].detach(), z[n:].detach()))
        if rotated is not None:
            logits = core.rotation_head(rotated)
            out["loss_rotation"] = rotation_loss(logits, views.rotation_labels, tcfg.rotation_reduction)
            out["rotation_accuracy"] = (logits.argmax(-1) == views.rotation_labels).float().mean().detach()
    out["loss"] = tcfg.contrastive_weight * out["loss_contrastive"] + tcfg.rotation_weight * out["loss_rotation"]
    return out


def monitor_terms(z0: torch.Tensor, z1: torch.Tensor) -> dict[str, torch.Tensor]:
    """`MONITOR_TERMS` of the projections z0, z1 (N, d) of the step's positive pairs, on the device (no
    host read): the collapse measure of the originals', alignment of the pairs, mean uniformity of both views."""
    with torch.autocast(z0.device.type, enabled=False):
        return {
            "collapse_std": collapse_measure(z0),
            "alignment": alignment(z0, z1),
            "uniformity": (uniformity(z0) + uniformity(z1)) / 2
            if len(z0) > 1
            else z0.new_full((), float("nan")).float(),
        }


def training_step(
    model: AcmNet | torch.nn.parallel.DistributedDataParallel,
    augment: torch.nn.Module,
    images: torch.Tensor,
    tcfg: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> StepOutput:
    """Views and losses of one batch of originals `images` (N, 3, S, S) in [0, 1], in one call."""
    return step_losses(model, make_views(images, augment, tcfg), tcfg, amp_dtype)
