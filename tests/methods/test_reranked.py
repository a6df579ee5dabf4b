"""`kind: reranked`: a re-ranked list as a row; its config is checked against the rest of the config."""

from __future__ import annotations

import pytest

from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.methods import method_kind
from acmnet.methods.reranked import first_stage


def _config(reranked: dict, **evaluate):
    return config_from_dict(
        {
            "datasets": {"pitts": {"type": "utm", "root": "data/pitts"}},
            "methods": {
                "salad": {"kind": "external", "descriptors": {"pitts": "logs/salad/run"}},
                "salad_lg": {"kind": "reranked", **reranked},
            },
            "evaluate": {"top_k": 10, **evaluate},
        }
    )


def test_label_and_first_stage():
    cfg = _config({"first_stage": "salad", "pairs": {"pitts": "lg.txt"}, "label": "SALAD + LightGlue"}, export_pairs=10)
    spec = cfg.methods["salad_lg"]
    assert (
        method_kind("reranked").label(cfg, "salad_lg", spec.options)
        == "SALAD + LightGlue; re-ranks the top 10 of salad"
    )
    assert first_stage(cfg, "salad_lg") == "salad" and first_stage(cfg, "salad") is None
    assert method_kind("reranked").imports_ranking and not method_kind("external").imports_ranking


@pytest.mark.parametrize(
    ("reranked", "evaluate", "pattern"),
    [
        (
            {"first_stage": "slad", "pairs": {"pitts": "a.txt"}},
            {},
            r"first_stage: `slad` is not another configured method \(did you mean `salad`\?\)",
        ),
        ({"first_stage": "salad_lg", "pairs": {"pitts": "a.txt"}}, {}, r"`salad_lg` is not another configured method"),
        ({"pairs": {"pitts": "a.txt"}}, {}, r"methods.salad_lg.first_stage is missing"),
        ({"first_stage": "salad", "pairs": {}}, {}, r"pairs has no entry for dataset `pitts`"),
        (
            {"first_stage": "salad", "pairs": {"pitts": "a.txt", "tokyo": "b.txt"}},
            {},
            r"pairs.tokyo: `tokyo` is not a configured dataset",
        ),
        (
            {"first_stage": "salad", "pairs": {"pitts": "a.txt"}},
            {"export_pairs": 11},
            r"export_pairs = 11 asks for more pairs",
        ),
    ],
)
def test_config_refusals(reranked, evaluate, pattern):
    with pytest.raises(ConfigError, match=pattern):
        _config(reranked, **evaluate)
