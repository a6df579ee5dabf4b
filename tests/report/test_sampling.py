"""The captions name how training batches were drawn: the default, and the paper's reading on its row."""

from acmnet.config_loader import config_from_dict
from acmnet.report.captions import choices, settings_sentence


def _cfg(train_row=None):
    methods = {"acmnet": {"kind": "acmnet"}}
    if train_row is not None:
        methods["acmnet_places"] = {"kind": "acmnet", "train": train_row}
    return config_from_dict({"methods": methods, "datasets": {"d": {"type": "synthetic", "root": "x"}}})


def test_the_default_plain_permutation_is_named_against_the_papers_n_different_places():
    (item,) = [c for c in choices(_cfg()) if c.startswith("batches:")]
    assert "plain permutation" in item and "our default" in item and "N different places" in item
    assert r"sampler permutation" in settings_sentence(_cfg())


def test_the_places_row_is_named_with_its_window():
    items = choices(_cfg({"sampler": "places", "place_window": 1}))
    assert "row acmnet_places: sampler places, place_window 1" in items
    spread = config_from_dict(
        {"train": {"sampler": "places", "place_window": 3}, "datasets": {"d": {"type": "synthetic", "root": "x"}}}
    )
    (item,) = [c for c in choices(spread) if c.startswith("batches:")]
    assert "±3 places" in item and "plain permutation" not in item
