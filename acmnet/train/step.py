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
from acmnet.train.views import Views, make_views

LOSS_TERMS = ("loss", "loss_contrastive", "loss_rotation", "rotation_accuracy", "positive_alignment")


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, too few images, replicas that disagree); the message names the step."""


class StepOutput(dict):
    """Loss terms and diagnostics of one step (tensors, keys `LOSS_TERMS`); `loss` is the total to minimise."""


def set_train_mode(model: AcmNet, tcfg: TrainConfig) -> None:
    """Training mode, with the encoder's batch-norm layers in eval mode when `encoder_bn: frozen`."""
    model.train()
    if tcfg.encoder_bn == "frozen":
        for module in model.encoder.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def _rotation_features(feats: torch.Tensor, views: Views, tcfg: TrainConfig) -> torch.Tensor:
    """The encoder features of the rotation views, in the order of `views.rotation_labels`."""
    n = views.n
    first = 2 * n if tcfg.contrastive_weight > 0 else n
    if tcfg.rotation_views == "all":
        return torch.cat([feats[:n], feats[first:]])
    return torch.where((views.rotation_labels == 0)[:, None], feats[:n], feats[first:])


def step_losses(
    model: AcmNet | torch.nn.parallel.DistributedDataParallel,
    views: Views,
    tcfg: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> StepOutput:
    """One encoder pass over every view, then both heads and losses (autocast when `amp_dtype`)."""
    n = views.n
    core = getattr(model, "module", model)  # under DistributedDataParallel, the wrapped AcmNet
    zero = views.batch.new_zeros((), dtype=torch.float32)
    out = StepOutput(loss_contrastive=zero, positive_alignment=zero, loss_rotation=zero, rotation_accuracy=zero)
    with autocast(views.batch.device, amp_dtype):
        feats = model(views.batch)
        if tcfg.contrastive_weight > 0:
            z = core.projector(feats[: 2 * n])
            out["loss_contrastive"] = contrastive_loss(tcfg.contrastive, z[:n], z[n:], tcfg.tau)
            out["positive_alignment"] = positive_alignment(z[:n], z[n:]).detach()
        if tcfg.rotation_weight > 0:
            logits = core.rotation_head(_rotation_features(feats, views, tcfg))
            out["loss_rotation"] = rotation_loss(logits, views.rotation_labels, tcfg.rotation_reduction)
            out["rotation_accuracy"] = (logits.argmax(-1) == views.rotation_labels).float().mean().detach()
    out["loss"] = tcfg.contrastive_weight * out["loss_contrastive"] + tcfg.rotation_weight * out["loss_rotation"]
    return out


def training_step(
    model: AcmNet | torch.nn.parallel.DistributedDataParallel,
    augment: torch.nn.Module,
    images: torch.Tensor,
    tcfg: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> StepOutput:
    """Views and losses of one batch of originals `images` (N, 3, S, S) in [0, 1], in one call."""
    return step_losses(model, make_views(images, augment, tcfg), tcfg, amp_dtype)
