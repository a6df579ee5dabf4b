"""The views of a step and the queue that makes them ahead."""

import numpy as np
import pytest
import torch

from acmnet.config import AugmentConfig, TrainConfig
from acmnet.device import to_float_images
from acmnet.train.augment import build_appearance_augmentation
from acmnet.train.views import ViewQueue, make_views
from tests.conftest import cuda


def test_one_random_rotation_per_image_matches_its_label():
    images = torch.rand(6, 3, 8, 8)
    torch.manual_seed(3)
    views = make_views(images, torch.nn.Identity(), TrainConfig(contrastive_weight=0.0, rotation_views="one"))
    assert views.batch.shape == (12, 3, 8, 8) and views.rotation_labels.shape == (6,)
    assert len(set(views.rotation_labels.tolist())) > 1
    for i, k in enumerate(views.rotation_labels.tolist()):
        torch.testing.assert_close(views.batch[6 + i], torch.rot90(images[i], k, dims=(1, 2)))


def _queued_and_direct_views(device: torch.device, channels_last: bool):
    array = np.random.default_rng(0).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    augment = build_appearance_augmentation(AugmentConfig()).to(device)
    rows = np.array([1, 4, 5, 8])
    torch.manual_seed(7)
    queue = ViewQueue(array, augment, TrainConfig(), device, channels_last)
    queue.start(rows)
    queued = queue.take()
    torch.manual_seed(7)
    direct = make_views(to_float_images(array[rows], device, channels_last), augment, TrainConfig())
    return queued, direct


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, cuda])])
def test_view_queue_makes_the_same_views_as_in_place(device):
    queued, direct = _queued_and_direct_views(torch.device(device), channels_last=True)
    assert queued.batch.shape == (20, 3, 16, 16) and queued.n == 4
    assert queued.batch.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(queued.batch, direct.batch)
    torch.testing.assert_close(queued.rotation_labels, direct.rotation_labels)
    one = TrainConfig(rotation_views="one")  # draws a rotation per image
    queue = ViewQueue(
        np.zeros((3, 4, 4, 3), np.uint8),
        torch.nn.Identity(),
        one,
        torch.device("cpu"),
        False,
        rng_state=lambda: {"torch": torch.get_rng_state()},
        depth=2,
    )
    with pytest.raises(RuntimeError, match="before start"):
        queue.take()
    torch.manual_seed(11)
    queue.start(np.array([0]))
    queue.start(np.array([1]))
    with pytest.raises(RuntimeError, match="2 batches are queued"):
        queue.start(np.array([2]))
    first = queue.take()
    second_rng = queue.rng_before_next()
    # the state recorded before batch 2 is the one left after batch 1 drew its random numbers
    seeded = torch.manual_seed(11).get_state()
    make_views(torch.zeros(1, 3, 4, 4), torch.nn.Identity(), one)
    assert torch.equal(second_rng["torch"], torch.get_rng_state())
    assert not torch.equal(second_rng["torch"], seeded)
    assert first.n == 1 and queue.take().n == 1
    queue.close()
