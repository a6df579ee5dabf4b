"""Appearance augmentation T_A: Table 1 of the paper as a kornia pipeline.

Applied to whole batches on the training device, with per-sample random parameters; input and
output are float images in [0, 1], shape (N, 3, H, W). Probabilities are the paper's; the
magnitudes (not printed) come from `AugmentConfig` (defaults in config/README.md, `augment`).
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

from acmnet.config import AugmentConfig


def build_appearance_augmentation(cfg: AugmentConfig) -> nn.Module:
    """The nine Table 1 augmentations, each applied with its own p, in Table 1's row order (the paper
    gives no order of application; this one is ours)."""
    return K.AugmentationSequential(
        K.RandomPlanckianJitter(mode=cfg.planckian_jitter.mode, p=cfg.planckian_jitter.p),
        K.ColorJiggle(
            brightness=cfg.color_jiggle.brightness,
            contrast=cfg.color_jiggle.contrast,
            saturation=cfg.color_jiggle.saturation,
            hue=cfg.color_jiggle.hue,
            p=cfg.color_jiggle.p,
        ),
        K.RandomPlasmaBrightness(
            roughness=cfg.plasma_brightness.roughness,
            intensity=cfg.plasma_brightness.intensity,
            p=cfg.plasma_brightness.p,
        ),
        K.RandomPlasmaContrast(roughness=cfg.plasma_contrast.roughness, p=cfg.plasma_contrast.p),
        K.RandomGrayscale(p=cfg.grayscale.p),
        K.RandomBoxBlur(kernel_size=cfg.box_blur.kernel_size, p=cfg.box_blur.p),
        K.RandomChannelShuffle(p=cfg.channel_shuffle.p),
        K.RandomMotionBlur(
            kernel_size=cfg.motion_blur.kernel_size,
            angle=cfg.motion_blur.angle,
            direction=cfg.motion_blur.direction,
            p=cfg.motion_blur.p,
        ),
        K.RandomSolarize(thresholds=cfg.solarize.thresholds, additions=cfg.solarize.additions, p=cfg.solarize.p),
        data_keys=["input"],
    )


def rotations(images: torch.Tensor, ks: tuple[int, ...] = (1, 2, 3)) -> torch.Tensor:
    """Rotations by k * 90 degrees (counter-clockwise) of square images, concatenated in k order.

    images: (N, 3, S, S) -> (len(ks) * N, 3, S, S).
    """
    return torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in ks])
