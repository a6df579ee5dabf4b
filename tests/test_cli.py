import numpy as np
import pytest
import yaml
from PIL import Image

from acmnet.cli import build_parser, main

STEPS = [
    "check-config",
    "synthesize",
    "prepare",
    "cache",
    "train",
    "describe",
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
