"""Raw-pixel baseline: SeqSLAM's templates (Milford and Wyeth, ICRA 2012), ranked by SSD, as a describer.

Per image (float [0, 1], (B, 3, H, W)):

1. greyscale, ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (MATLAB ``rgb2gray`` / OpenCV);
2. downsample to ``size = (height, width)`` by area averaging (``F.adaptive_avg_pool2d``: exact
   block means when the factors are integers, overlapping bins otherwise); default (32, 64), i.e.
   SeqSLAM's 64 x 32 (width x height) of the paper and of OpenSeqSLAM;
3. patch normalisation: each non-overlapping ``patch x patch`` block (default 8, SeqSLAM's P) is
   shifted to zero mean and scaled to unit (population) variance; a flat block (std < ``flat_std``)
   becomes all zeros;
4. flattened in row-major (height, width) order and L2-normalised, D = height * width (2048).

Greyscale and area downsampling are both linear, so their order does not matter.

Matching by inner product: SeqSLAM compares templates by the sum of absolute differences. After
patch normalisation every non-flat image has the same norm (sqrt(D)), so the cosine similarity
used here ranks references exactly as the sum of *squared* differences would (||a - b||^2 =
2 D (1 - cos)); SAD would need a different index. Variance convention (n or n - 1) is immaterial
after the L2 normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from acmnet.config import Config, ConfigError, bounded
from acmnet.methods.base import MethodKind

if TYPE_CHECKING:
    from acmnet.artifacts import Checkpoint

LUMA = (0.299, 0.587, 0.114)
DEFAULT_SIZE = (32, 64)  # (height, width): SeqSLAM's 64 x 32 pixels
DEFAULT_PATCH = 8  # SeqSLAM's patch normalisation side length P


class PixelDescriber(nn.Module):
    """Downsampled, greyscale, patch-normalised pixels: float [0, 1] (B, 3, H, W) -> float32 (B, h*w), unit norm."""

    def __init__(self, size: tuple[int, int] = DEFAULT_SIZE, patch: int = DEFAULT_PATCH, flat_std: float = 1e-6):
        super().__init__()
        height, width = int(size[0]), int(size[1])
        if height <= 0 or width <= 0 or patch <= 0:
            raise ValueError(f"size and patch must be positive, got size={size}, patch={patch}")
        if height % patch or width % patch:
            raise ValueError(f"patch {patch} must divide the downsampled size {height}x{width} (height x width)")
        self.size = (height, width)
        self.patch = int(patch)
        self.flat_std = float(flat_std)
        self.register_buffer("luma", torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def dim(self) -> int:
        return self.size[0] * self.size[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected float images (B, 3, H, W), got shape {tuple(images.shape)}")
        grey = (images.float() * self.luma).sum(dim=1, keepdim=True)  # (B, 1, H, W)
        small = F.adaptive_avg_pool2d(grey, self.size)[:, 0]  # (B, h, w)
        b, (h, w), p = small.shape[0], self.size, self.patch
        blocks = small.reshape(b, h // p, p, w // p, p)
        mean = blocks.mean(dim=(2, 4), keepdim=True)
        std = blocks.std(dim=(2, 4), keepdim=True, unbiased=False)
        normalised = torch.where(
            std >= self.flat_std, (blocks - mean) / std.clamp(min=self.flat_std), torch.zeros_like(blocks)
        )
        return F.normalize(normalised.reshape(b, h * w), dim=-1)

    def extra_repr(self) -> str:
        return f"size={self.size}, patch={self.patch}, flat_std={self.flat_std}"


@dataclass
class PixelsOptions:
    """Options of a `kind: pixels` method (SeqSLAM's templates, ranked by SSD where SeqSLAM uses SAD)."""

    pixel_size: tuple[int, int] = bounded(DEFAULT_SIZE, lo=1)  # (height, width) after downsampling
    pixel_patch: int = bounded(DEFAULT_PATCH, lo=1)  # patch-normalisation side length

    def check(self, where: str) -> None:
        height, width = self.pixel_size
        if height % self.pixel_patch or width % self.pixel_patch:
            raise ConfigError(
                f"{where}.pixel_patch {self.pixel_patch} must divide pixel_size {list(self.pixel_size)} "
                "(height and width)"
            )


def _build(cfg: Config, name: str, options: PixelsOptions, checkpoint: Checkpoint | None) -> nn.Module:
    return PixelDescriber(options.pixel_size, options.pixel_patch).eval()


def _label(cfg: Config, name: str, options: PixelsOptions) -> str:
    height, width = options.pixel_size
    return f"Raw pixels {width}x{height}, patch-normalised ({options.pixel_patch} px), ranked by SSD (SeqSLAM: SAD)"


METHOD = MethodKind(kind="pixels", options=PixelsOptions, build=_build, label=_label, uses_gpu=False)
