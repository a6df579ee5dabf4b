import pandas as pd
import pytest

from acmnet.artifacts import load_manifest
from acmnet.data import manifest as mf
from tests.conftest import write_manifest


def _frame(roles):
    return pd.DataFrame(
        {"image": [f"{i}.png" for i in range(len(roles))], "role": roles, "place": range(len(roles)), "condition": "c"}
    )


def test_round_trip(tmp_path):
    frame = _frame(["train", "reference", "query"])
    written = write_manifest(frame, tmp_path / "m.csv")
    back = load_manifest(tmp_path / "m.csv")
    pd.testing.assert_frame_equal(back.frame, mf.validate(frame))
    assert back.digest == written.digest and back.provenance.step == "prepare"
    assert back.rows("query").tolist() == [2]


@pytest.mark.parametrize(
    "roles, message",
    [
        (["train", "reference"], "no `query` images"),
        (["query"], "no `reference` images"),
        (["reference", "query", "test"], "unknown role"),
    ],
)
def test_invalid_manifests_are_refused_and_not_written(tmp_path, roles, message):
    with pytest.raises(mf.ManifestError, match=message):
        write_manifest(_frame(roles), tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_missing_column_and_missing_file():
    with pytest.raises(mf.ManifestError, match="lacks column"):
        mf.validate(pd.DataFrame({"image": ["a"], "role": ["query"]}))
    with pytest.raises(mf.ManifestError, match="run `acmnet prepare`"):
        mf.read("does/not/exist.csv")


def test_query_sets_in_order():
    frame = pd.DataFrame(
        {
            "image": list("abcd"),
            "role": ["reference", "query", "query", "query"],
            "place": [0, 0, 0, 1],
            "condition": ["day", "night", "snow", "night"],
        }
    )
    assert mf.query_sets(frame) == ["night", "snow"]
