import kornia.augmentation as K
import pytest
import torch

from acmnet.config import AugmentConfig
from acmnet.train.augment import build_appearance_augmentation, rotations

# Table 1 of the paper, in its order: (kornia class, probability).
TABLE_1 = [
    (K.RandomPlanckianJitter, 0.8),
    (K.ColorJiggle, 0.5),
    (K.RandomPlasmaBrightness, 0.5),
    (K.RandomPlasmaContrast, 0.3),
    (K.RandomGrayscale, 0.3),
    (K.RandomBoxBlur, 0.5),
    (K.RandomChannelShuffle, 0.5),
    (K.RandomMotionBlur, 0.3),
    (K.RandomSolarize, 0.5),
]


def test_pipeline_is_table_1_in_order_with_its_probabilities():
    pipeline = build_appearance_augmentation(AugmentConfig())
    stages = list(pipeline.children())
    assert [type(s) for s in stages] == [cls for cls, _ in TABLE_1]
    assert [s.p for s in stages] == pytest.approx([p for _, p in TABLE_1])
    # ColorJiggle, not ColorJitter: the two use different formulas.
    assert not isinstance(stages[1], K.ColorJitter)


def test_magnitudes_come_from_the_config():
    cfg = AugmentConfig()
    cfg.motion_blur.kernel_size = 5
    cfg.planckian_jitter.p = 0.1
    stages = list(build_appearance_augmentation(cfg).children())
    assert stages[0].p == pytest.approx(0.1)
    assert stages[7]._param_generator.kernel_size == 5


def test_batch_output_shape_range_and_per_sample_parameters():
    torch.manual_seed(0)
    images = torch.rand(1, 3, 32, 32).repeat(16, 1, 1, 1)
    out = build_appearance_augmentation(AugmentConfig())(images)
    assert out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 1
    # The same image, augmented 16 times in one batch, comes out in many different ways.
    distinct = {tuple(x.flatten()[:50].round(decimals=4).tolist()) for x in out}
    assert len(distinct) > 8


def test_rotations_are_counter_clockwise_quarter_turns():
    x = torch.zeros(1, 3, 4, 4)
    x[..., 0, 3] = 1  # top-right corner
    r = rotations(x)
    assert r.shape == (3, 3, 4, 4)
    assert r[0, 0, 0, 0] == 1  # 90 deg ccw: top-right -> top-left
    assert r[1, 0, 3, 0] == 1  # 180 deg: -> bottom-left
    assert r[2, 0, 3, 3] == 1  # 270 deg: -> bottom-right
