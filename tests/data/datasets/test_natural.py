"""Natural name order as AnyLoc lists its folders (natsort's `natsorted`, default key)."""

import random

import pytest

from acmnet.data.datasets.natural import OrderError, natural_key, natural_sorted, ordered

natsort = pytest.importorskip("natsort")


def test_key_is_natsorts_default_key():
    names = ["img10.jpg", "10a", "a", "", "a10b2", "1.5", "a_01", "Img2.JPG", "x/y2.jpg", "frame_000123.png"]
    assert [natural_key(n) for n in names] == [natsort.natsort_keygen()(n) for n in names]


def test_order_is_natsorted_on_names_of_the_field():
    rng = random.Random(0)
    stems = ["img", "Image", "frame_", "", "db", "q_0", "IMG_2020", "a.b"]
    names = {
        f"{rng.choice(stems)}{rng.randint(0, 120)}{rng.choice(['', '_', 'b'])}.{rng.choice(['jpg', 'png'])}"
        for _ in range(400)
    }
    names = sorted(names)
    rng.shuffle(names)
    assert natural_sorted(names) == natsort.natsorted(sorted(names))


def test_ordered_refuses_only_where_the_orders_differ(tmp_path):
    padded = ["0001.jpg", "0002.jpg", "0010.jpg"]
    assert ordered(padded, None, tmp_path, "order") == padded
    with pytest.raises(OrderError, match=r"img10.jpg comes before img9.jpg in plain name order"):
        ordered(["img9.jpg", "img10.jpg"], None, tmp_path, "order")
    assert ordered(["img9.jpg", "img10.jpg"], "plain", tmp_path, "order") == ["img10.jpg", "img9.jpg"]


def test_natural_order_is_vprbenchs_int_order_on_integer_names():
    """VPR-Bench's evaluate_vpr_techniques.py: `sorted(names, key=lambda x: int(x.split(".")[0]))`, transcribed."""
    names = [f"{i}.jpg" for i in (0, 1, 2, 10, 11, 100, 9)]
    vprbench = sorted(names, key=lambda x: int(x.split(".")[0]))
    assert natural_sorted(names) == vprbench != sorted(names)
    padded = [f"{i:07d}.jpg" for i in (0, 1, 2, 10, 11, 100, 9)]  # as VPR-Bench releases them
    assert sorted(padded) == natural_sorted(padded) == sorted(padded, key=lambda x: int(x.split(".")[0]))
