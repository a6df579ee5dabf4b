import numpy as np
import pandas as pd
import pytest

from acmnet.config_loader import config_from_dict
from acmnet.evaluate.metrics import score
from acmnet.evaluate.signature import FIELDS, SignatureError, legend, parse
from tests.conftest import write_manifest, write_positives, write_retrieval

FRAME = pd.DataFrame(
    {
        "image": [f"{i}.png" for i in range(9)],
        "role": ["reference"] * 5 + ["query"] * 4,
        "place": [0, 1, 2, 3, 4, 0, 2, 3, 4],
        "condition": ["day"] * 5 + ["night", "night", "snow", "snow"],
    }
)
INDICES = np.array([[0, 1], [2, 0], [3, 4], [1, 0]])


def _signatures(tmp_path, frame=FRAME, tolerance=1, image_size=(32, 32), top_k=2):
    """{query set: signature text} of method `m` (kind pixels) scored on `frame`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = config_from_dict(
        {
            "image_size": list(image_size),
            "evaluate": {"top_k": top_k, "recall_at": [1, 2]},
            "methods": {"m": {"kind": "pixels"}},
            "datasets": {
                "d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": tolerance}
            },
        }
    )
    manifest = write_manifest(frame, tmp_path / "m.csv")
    write_retrieval(tmp_path, manifest, INDICES, np.eye(5, dtype=np.float32), name="m.csv", method="m")
    metrics = score(
        cfg,
        "d",
        "m",
        tmp_path / "m.csv",
        write_positives(tmp_path / "m.csv", tolerance),
        tmp_path / "m.csv.npz",
        tmp_path / "out.csv",
        tmp_path / "curve.csv",
        [tmp_path / "m.csv.d.npz"],
    )
    return dict(zip(metrics["queries"], metrics["signature"], strict=True))


def test_every_metrics_row_carries_a_signature_with_every_field(tmp_path):
    sig = _signatures(tmp_path)
    night = parse(sig["night"]).fields
    assert list(night) == list(FIELDS)
    assert night["type"] == "folder_pair" and night["set"] == "night/day"
    assert (night["ref"], night["q"], night["pos"]) == ("5", "2", "5")  # places 0 (0, 1) and 2 (1, 2, 3)
    assert night["rule"] == "places±1" and night["nopos"] == "none"
    assert (night["img"], night["dim"], night["dtype"], night["sim"], night["k"]) == (
        "32x32/resize",
        "5",
        "float32",
        "cos",
        "2",
    )


def test_same_inputs_give_the_same_signature_in_another_folder(tmp_path):
    assert _signatures(tmp_path / "a") == _signatures(tmp_path / "b")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tolerance": 2}, "rule"),
        ({"image_size": (64, 32)}, "img"),
    ],
)
def test_tolerance_and_image_size_change_the_signature(tmp_path, change, field):
    base, changed = _signatures(tmp_path / "a"), _signatures(tmp_path / "b", **change)
    assert base["night"] != changed["night"]
    assert parse(base["night"]).fields[field] != parse(changed["night"]).fields[field]


def test_the_query_set_changes_the_signature(tmp_path):
    sig = _signatures(tmp_path)
    night, snow = parse(sig["night"]).fields, parse(sig["snow"]).fields
    assert night["set"] == "night/day" and snow["set"] == "snow/day"
    assert night["gt"] != snow["gt"]


def test_one_ground_truth_row_changes_the_digest_and_nothing_else_of_that_query_set(tmp_path):
    moved = FRAME.assign(place=[0, 1, 2, 3, 4, 0, 2, 3, 0])  # the last query's positives {3, 4} -> {0, 1}
    base, changed = _signatures(tmp_path / "a"), _signatures(tmp_path / "b", frame=moved)
    assert base["night"] == changed["night"]
    a, b = parse(base["snow"]).fields, parse(changed["snow"]).fields
    assert [k for k in FIELDS if a[k] != b[k]] == ["gt"]


def test_a_query_without_a_positive_is_named_as_a_miss(tmp_path):
    far = FRAME.assign(place=[0, 1, 2, 3, 4, 0, 2, 3, 40])
    assert parse(_signatures(tmp_path, frame=far)["snow"]).fields["nopos"] == "miss"


def test_malformed_signatures_are_refused_naming_the_part():
    good = "|".join(f"{k}:x" for k in FIELDS)
    assert parse(good).text() == good
    with pytest.raises(SignatureError, match="lacks field"):
        parse(good.rsplit("|", 1)[0])
    with pytest.raises(SignatureError, match="'colour:red'"):
        parse(good + "|colour:red")
    with pytest.raises(SignatureError, match="no signature"):
        parse("")
    assert legend([good, good]) == [f"- sig {parse(good).short()}: {good}"]
    assert legend([good, float("nan")])[1].startswith("- sig none: a metrics file without signatures")


def test_summary_md_gives_every_row_its_signature_id_and_the_legend_its_text(tmp_path):
    from acmnet.report.summary import markdown, summarise

    sig = _signatures(tmp_path)
    cfg = config_from_dict(
        {"datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}, "methods": {"m": {}}}
    )
    rng = np.random.default_rng(0)
    ranks = pd.concat(
        pd.DataFrame(
            {"dataset": "d", "queries": q, "method": "m", "query_row": range(20), "first_hit": rng.integers(0, 4, 20)}
        )
        for q in sig
    )
    metrics = pd.DataFrame(
        {"dataset": "d", "queries": list(sig), "method": "m", "n_queries": 20, "n_references": 5, "tolerance": 1}
    ).assign(signature=list(sig.values()))
    text = markdown(summarise(metrics, ranks, cfg), cfg.evaluate)
    for q, s in sig.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| d         | {q}"))
        assert row.rstrip(" |").endswith(parse(s).short())
        assert f"- sig {parse(s).short()}: {s}" in text
