import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from acmnet.cli import build_parser, main
from tests.conftest import write_manifest

STEPS = [
    "check-config",
    "synthesize",
    "prepare",
    "positives",
    "cache",
    "train",
    "prune",
    "describe",
    "check-invariance",
    "retrieve",
    "score",
    "report",
    "figure-retrievals",
    "tables",
    "localize",
    "gradcam",
]


def test_every_step_has_help(capsys):
    for step in STEPS:
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args([step, "--help"])
        assert exc.value.code == 0
        assert "--config" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["download", "--help"])
    assert "--root" in capsys.readouterr().out


def _pair_config(tmp_path, **extra):
    for folder in ("day", "night"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    cfg = {
        "image_size": [8, 8],
        "evaluate": {"top_k": 3, "recall_at": [1, 3]},  # 3 references
        "datasets": {
            "pair": {"type": "folder_pair", "root": str(tmp_path), "reference": "day", "query": ["night"], **extra}
        },
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_unknown_key_is_one_clear_message(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"modle": {}, "datasets": {}}))
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key `modle`" in err and "did you mean `model`" in err
    assert "Traceback" not in err


def test_prepare_then_cache_and_a_corrupt_image(tmp_path, capsys):
    cfg = _pair_config(tmp_path)
    manifest = tmp_path / "out" / "manifest.csv"
    assert main(["prepare", "--config", str(cfg), "--dataset", "pair", "--out", str(manifest)]) == 0
    assert "query/night: 3" in capsys.readouterr().out
    (tmp_path / "night" / "1.png").write_bytes(b"garbage")
    cache = tmp_path / "out" / "images.npy"
    assert (
        main(["cache", "--config", str(cfg), "--dataset", "pair", "--manifest", str(manifest), "--out", str(cache)])
        == 2
    )
    err = capsys.readouterr().err
    assert "night/1.png" in err and "cannot be decoded" in err
    assert not cache.exists()


def test_empty_query_set_is_refused_at_prepare(tmp_path, capsys):
    cfg = _pair_config(tmp_path, frames_csv="frames.csv")
    (tmp_path / "frames.csv").write_text("file,usable\n0.png,1\n1.png,1\n2.png,1\n")
    for p in (tmp_path / "night").iterdir():
        p.unlink()
    assert main(["prepare", "--config", str(cfg), "--dataset", "pair", "--out", str(tmp_path / "m.csv")]) == 2
    assert "night holds no images" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()


def test_unknown_dataset_name(tmp_path, capsys):
    cfg = _pair_config(tmp_path)
    assert main(["prepare", "--config", str(cfg), "--dataset", "piar", "--out", str(tmp_path / "m.csv")]) == 2
    assert "did you mean `pair`" in capsys.readouterr().err


def test_a_sequence_longer_than_a_query_set_is_refused_at_prepare_with_the_counts(tmp_path, capsys):
    cfg = _pair_config(tmp_path)
    raw = yaml.safe_load(cfg.read_text())
    (tmp_path / "night" / "2.png").unlink()  # night: 2 queries, day: 3 references
    out = tmp_path / "m.csv"
    for lengths, code in (([1, 4], 2), ([3], 2), ([2], 0)):
        cfg.write_text(yaml.safe_dump({**raw, "evaluate": {**raw["evaluate"], "sequence_lengths": lengths}}))
        assert main(["prepare", "--config", str(cfg), "--dataset", "pair", "--out", str(out)]) == code
        err = capsys.readouterr().err
        assert out.exists() == (code == 0)
        if lengths == [1, 4]:
            assert "evaluate.sequence_lengths asks for sequences of 4 frames" in err, err
            assert "datasets.pair (query set `night`: 2 images, the references: 3 images)" in err and "at most 2" in err
        elif lengths == [3]:
            assert "(query set `night`: 2 images)" in err and "references" not in err


def test_top_k_above_the_reference_count_is_refused_at_prepare(tmp_path, capsys):
    """Issue 26: prepare knows the reference count; training and describing never start."""
    cfg = _pair_config(tmp_path)
    raw = yaml.safe_load(cfg.read_text())
    out = tmp_path / "m.csv"
    for top_k, code in ((4, 2), (3, 0)):
        cfg.write_text(yaml.safe_dump({**raw, "evaluate": {"top_k": top_k, "recall_at": [1]}}))
        assert main(["prepare", "--config", str(cfg), "--dataset", "pair", "--out", str(out)]) == code
        assert out.exists() == (code == 0)
    assert "evaluate.top_k = 4 asks for more retrievals per query than datasets.pair has reference images (3)" in (
        capsys.readouterr().err
    )


def test_tables_without_metrics_gives_the_published_rows(tmp_path, capsys):
    assert main(["tables", "--out", str(tmp_path)]) == 0
    table2 = (tmp_path / "table2.tex").read_text()
    assert "58.8" in table2 and "ACM-Net (published)" in table2 and "(ours" not in table2
    assert "9.90" in (tmp_path / "table3.tex").read_text()


def test_download_of_a_browser_only_host_prints_the_steps(tmp_path, capsys):
    assert main(["download", "alderley", "--root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "FRAMESA.zip" in captured.err and str(tmp_path) in captured.err


def test_prepare_by_type_and_root_without_a_config(nordland64_root, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["prepare", "nordland64", "--root", str(nordland64_root), "--out", str(out)]) == 0
    assert "query/winter: 1730" in capsys.readouterr().out
    assert main(["prepare", "nordland64", "--out", str(out)]) == 2
    assert "needs --root" in capsys.readouterr().err


@pytest.fixture
def pipeline(tmp_path):
    """prepare -> cache -> describe -> retrieve of a 3-place pair with a random backbone, by the CLI."""
    cfg = _pair_config(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    data.update(
        image_size=[32, 32],
        model={"backbone": "test_efficientnet", "pretrained": False},
        methods={"avg": {"kind": "pretrained"}, "acm": {"kind": "acmnet"}},
        evaluate={"top_k": 3, "recall_at": [1, 3]},
    )
    cfg.write_text(yaml.safe_dump(data))
    paths = {
        k: tmp_path / "out" / v
        for k, v in {
            "m": "manifest.csv",
            "c": "images.npy",
            "d": "descriptors",
            "p": "positives.npz",
            "r": "r.npz",
            "s": "s.csv",
            "k": "k.csv",
        }.items()
    }
    c = ["--config", str(cfg)]
    assert main(["prepare", *c, "--dataset", "pair", "--out", str(paths["m"])]) == 0
    positives = ["positives", *c, "--dataset", "pair", "--manifest", str(paths["m"]), "--out", str(paths["p"])]
    assert main(positives) == 0
    assert main(["cache", *c, "--dataset", "pair", "--manifest", str(paths["m"]), "--out", str(paths["c"])]) == 0
    assert (
        main(
            [
                "describe",
                *c,
                "--method",
                "avg",
                "--manifest",
                str(paths["m"]),
                "--cache",
                str(paths["c"]),
                "--out",
                str(paths["d"]),
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["retrieve", *c, "--method", "avg", "--descriptors", str(paths["d"]), "--out", str(paths["r"])]) == 0
    return c, paths


def _one_line_error(capsys, *fragments):
    """stderr holds one error line (progress bars aside) and no traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], (fragment, err)


def test_user_errors_are_one_line_naming_the_file(pipeline, capsys, tmp_path):
    c, p = pipeline
    capsys.readouterr()
    score = ["score", *c, "--dataset", "pair", "--method", "avg", "--manifest", str(p["m"]), "--positives", str(p["p"])]
    # a truncated retrieval file
    p["r"].write_bytes(p["r"].read_bytes()[:200])
    assert main([*score, "--retrieval", str(p["r"]), "--out", str(p["s"]), "--curve-out", str(p["k"])]) == 2
    _one_line_error(capsys, "r.npz is truncated or not a retrieval file", "acmnet retrieve")
    # a CSV, and a training state, given as the checkpoint
    describe = ["describe", *c, "--method", "acm", "--manifest", str(p["m"]), "--cache", str(p["c"]), "--no-progress"]
    assert main([*describe, "--checkpoint", str(p["m"]), "--out", str(tmp_path / "x.npz")]) == 2
    _one_line_error(capsys, "manifest.csv is not an acmnet checkpoint")
    import torch

    torch.save({"model": {}, "optimizer": {}, "format": 4}, tmp_path / "last.pt")
    assert main([*describe, "--checkpoint", str(tmp_path / "last.pt"), "--out", str(tmp_path / "x.npz")]) == 2
    _one_line_error(capsys, "last.pt is not a finished acmnet checkpoint (it is a resumable training state")
    # --out pointing at a folder
    (tmp_path / "folder").mkdir()
    assert (
        main(["retrieve", *c, "--method", "avg", "--descriptors", str(p["d"]), "--out", str(tmp_path / "folder")]) == 2
    )
    _one_line_error(capsys, "folder is a folder: give the path of the file to write")


def test_more_retrievals_than_references_are_refused(pipeline, capsys):
    c, p = pipeline
    capsys.readouterr()
    top_k = ["--set", "evaluate.top_k=10", "--method", "avg"]
    assert main(["retrieve", *c, *top_k, "--descriptors", str(p["d"]), "--out", str(p["r"])]) == 2
    _one_line_error(capsys, "descriptors holds 3 reference descriptors, fewer than evaluate.top_k = 10")


def test_files_of_another_manifest_are_refused_by_content(pipeline, capsys):
    c, p = pipeline
    frame = pd.read_csv(p["m"])
    frame.loc[frame["role"] == "query", "place"] += 1  # same rows, other places
    other = p["m"].with_name("other.csv")
    write_manifest(frame, other)  # another manifest, as `acmnet prepare` writes one
    other_positives = p["p"].with_name("other_positives.npz")
    assert main(["positives", *c, "--dataset", "pair", "--manifest", str(other), "--out", str(other_positives)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "score",
                *c,
                "--dataset",
                "pair",
                "--method",
                "avg",
                "--manifest",
                str(other),
                "--positives",
                str(other_positives),
                "--retrieval",
                str(p["r"]),
                "--out",
                str(p["s"]),
                "--curve-out",
                str(p["k"]),
            ]
        )
        == 2
    )
    _one_line_error(capsys, "r.npz was made from manifest", "not from", "other.csv")
    assert not p["s"].exists()


def test_files_of_another_method_are_refused_naming_both_methods(pipeline, capsys, tmp_path):
    """Issue 18: avg's descriptors and retrieval given for acm (same dataset, same experiment) are
    refused at every step that takes a method, never scored or drawn as acm's rows."""
    c, p = pipeline
    capsys.readouterr()
    out = tmp_path / "x.npz"
    assert main(["retrieve", *c, "--method", "acm", "--descriptors", str(p["d"]), "--out", str(out)]) == 2
    _one_line_error(capsys, "descriptors was made for method avg, not acm", "acmnet describe --method acm")
    score = ["score", *c, "--dataset", "pair", "--manifest", str(p["m"]), "--positives", str(p["p"])]
    files = ["--retrieval", str(p["r"]), "--out", str(p["s"]), "--curve-out", str(p["k"])]
    assert main([*score, "--method", "acm", *files]) == 2
    _one_line_error(capsys, "r.npz was made for method avg, not acm", "acmnet retrieve --method acm")
    assert main([*score, "--method", "acm", *files, "--descriptors", str(p["d"])]) == 2
    _one_line_error(capsys, "r.npz was made for method avg, not acm")
    figure = ["figure-retrievals", *c, "--dataset", "pair", "--manifest", str(p["m"]), "--cache", str(p["c"])]
    figure += ["--retrieval", str(p["r"]), "--positives", str(p["p"]), "--out", str(tmp_path / "f.png")]
    assert main([*figure, "--method", "acm"]) == 2
    _one_line_error(capsys, "r.npz was made for method avg, not acm")
    assert not out.exists() and not p["s"].exists() and not (tmp_path / "f.png").exists()
    assert main([*score, "--method", "avg", *files]) == 0 and main([*figure, "--method", "avg"]) == 0


def test_a_manifest_edited_after_prepare_is_refused_naming_the_step_to_rerun(pipeline, capsys):
    c, p = pipeline
    lines = p["m"].read_text().splitlines(keepends=True)
    p["m"].write_text("".join(lines[:-1]))  # a query row deleted by hand
    capsys.readouterr()
    score = ["score", *c, "--dataset", "pair", "--method", "avg", "--manifest", str(p["m"]), "--positives", str(p["p"])]
    assert main([*score, "--retrieval", str(p["r"]), "--out", str(p["s"]), "--curve-out", str(p["k"])]) == 2
    _one_line_error(capsys, "manifest.csv was changed after `acmnet prepare` wrote it", "run `acmnet prepare` again")
    assert not p["s"].exists()


def test_an_internal_error_keeps_its_traceback(monkeypatch):
    import dataclasses

    import acmnet.cli as cli

    def broken(args):
        raise KeyError("a bug")

    steps = tuple(dataclasses.replace(s, run=broken) if s.name == "check-config" else s for s in cli.STEPS)
    monkeypatch.setattr(cli, "STEPS", steps)
    with pytest.raises(KeyError, match="a bug"):
        main(["check-config", "--config", "x.yaml"])


# ---- refused before any work starts, in one line (issue 18) ----------------------------------


@pytest.mark.parametrize("text, kind", [("[1]", "list"), ('"x"', "str"), ("7", "int")])
def test_config_json_that_is_not_a_mapping_is_one_line(capsys, text, kind):
    assert main(["check-config", "--config-json", text, "--set", "train.epochs=1"]) == 2
    _one_line_error(capsys, "--config-json must hold a JSON object", f"got {kind}")


def test_config_json_that_is_not_json_is_named(capsys):
    assert main(["check-config", "--config-json", "{datasets: 1"]) == 2
    _one_line_error(capsys, "--config-json is not valid JSON")


def test_a_key_written_twice_is_named_by_check_config(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(
        "experiment: a\ndatasets: {d: {type: folder_pair, root: x, reference: a, query: [b]}}\nexperiment: b\n"
    )
    assert main(["check-config", "--config", str(path)]) == 2
    _one_line_error(capsys, "c.yaml: key `experiment` is written twice in one mapping, on lines 1 and 3")


def test_a_config_directory_is_named_as_a_directory(tmp_path, capsys):
    assert main(["check-config", "--config", str(tmp_path)]) == 2
    _one_line_error(capsys, f"config file {tmp_path} is a directory")


def test_prepare_refuses_a_dataset_type_together_with_a_config(tmp_path, capsys):
    cfg = _pair_config(tmp_path)
    out = tmp_path / "m.csv"
    for extra in (["--config", str(cfg)], ["--config", str(cfg), "--dataset", "pair"]):
        assert main(["prepare", "folder_pair", "--root", str(tmp_path), *extra, "--out", str(out)]) == 2
        _one_line_error(capsys, "either a dataset TYPE with --root DIR", "or --config with --dataset NAME", "not both")
    assert main(["prepare", "--config", str(cfg), "--dataset", "pair", "--root", str(tmp_path), "--out", str(out)]) == 2
    _one_line_error(capsys, "not both")
    assert not out.exists()


def test_prepare_refuses_a_broken_link_among_the_query_images(tmp_path, capsys):
    cfg = _pair_config(tmp_path)
    (tmp_path / "night" / "1.png").unlink()
    (tmp_path / "night" / "1.png").symlink_to(tmp_path / "elsewhere" / "1.png")
    out = tmp_path / "m.csv"
    assert main(["prepare", "--config", str(cfg), "--dataset", "pair", "--out", str(out)]) == 2
    _one_line_error(capsys, "night/1.png is a broken symbolic link", "restore the file it points to")
    assert not out.exists()


def test_describe_in_shards_retrieve_their_parts_and_draw_without_a_cache(pipeline, capsys, tmp_path):
    """Issue 19: `--shard s --shards K` writes part s of K (progress per part), here from the image
    files (no `--cache`); `retrieve` takes the parts' records; a figure without `--cache` decodes
    its images from the dataset's files."""
    import numpy as np
    import torch

    from acmnet.artifacts import load_descriptors, load_retrieval

    c, p = pipeline
    describe = ["describe", *c, "--method", "avg", "--manifest", str(p["m"]), "--no-progress"]
    torch.manual_seed(0)  # the same random backbone in every call
    assert main([*describe, "--cache", str(p["c"]), "--out", str(tmp_path / "one")]) == 0
    for shard in (1, 0):  # in any order
        torch.manual_seed(0)
        part = ["--out", str(tmp_path / "parts"), "--shard", str(shard), "--shards", "2", "--workers", "1"]
        assert main([*describe, "--dataset", "pair", *part]) == 0
        assert f"part {shard + 1} of 2" in capsys.readouterr().out
    records = sorted(str(r) for r in (tmp_path / "parts").glob("*.json"))
    assert [r.rsplit("/", 1)[1] for r in records] == ["part-0000-of-0002.json", "part-0001-of-0002.json"]
    one, two = load_descriptors(tmp_path / "one"), load_descriptors(records)
    np.testing.assert_allclose(two.reference, one.reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(two.query, one.query, rtol=0, atol=1e-6)
    out = tmp_path / "r.npz"
    assert main(["retrieve", *c, "--method", "avg", "--descriptors", *records, "--out", str(out)]) == 0
    assert load_retrieval(out, descriptors=two).indices.shape == (3, 3)
    assert main(["retrieve", *c, "--method", "avg", "--descriptors", records[0], "--out", str(out)]) == 2
    _one_line_error(capsys, "1 of the 2 descriptor parts are missing", "--shard 1 --shards 2")
    figure = ["figure-retrievals", *c, "--dataset", "pair", "--method", "avg", "--manifest", str(p["m"])]
    figure += ["--retrieval", str(p["r"]), "--positives", str(p["p"]), "--out", str(tmp_path / "f.png")]
    assert main(figure) == 0 and (tmp_path / "f.png").stat().st_size > 1000
