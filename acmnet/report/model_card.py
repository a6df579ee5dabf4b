"""The model card (`README.md` of an `acmnet export` folder) in the Hugging Face card form: YAML front
matter (license, tags, pipeline tag, base model, and a `model-index` of the run's R@N when a report is
given), then the training data and its digest, the settings, seed and epochs, R@N with their intervals
(and the report's protocol signature column, where it has one), and the departures from the paper.

The R@N rows are the report's `metrics.csv` rows of the checkpoint's method whose descriptors were made
with this very checkpoint (its digest in the records of `<report>/<dataset>/<method>/descriptors/`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from acmnet.artifacts import ArtifactError, Checkpoint
from acmnet.config import ModelConfig, TrainConfig
from acmnet.report.captions import model_choices, train_choices

TITLE = (
    "Self-Supervised Learning for Biologically-Inspired Place Representation Generalization across Appearance Changes"
)
CITATION = "\n".join(
    [
        "@article{musallam2023acmnet,",
        f"  title   = {{{TITLE}}},",
        "  author  = {Musallam, Mohamed Adel and Gaudilli{\\`e}re, Vincent and Aouada, Djamila},",
        "  journal = {arXiv preprint arXiv:2303.02370},",
        "  year    = {2023}",
        "}",
    ]
)


def _described_with(report: Path, dataset: str, method: str, digest: str) -> bool:
    """Whether the descriptors of (dataset, method) in the report folder were made with checkpoint `digest`."""
    records = sorted((report / dataset / method / "descriptors").glob("part-*.json"))
    for record in records:
        sources = json.loads(record.read_text()).get("provenance", {}).get("sources", {})
        if not any(s.get("digest") == digest for s in sources.values()):
            return False
    return bool(records)


def report_rows(report: Path, checkpoint: Checkpoint) -> pd.DataFrame:
    """The rows of `report`/metrics.csv that this checkpoint's descriptors scored (ArtifactError naming the
    file when there is none)."""
    path = Path(report) / "metrics.csv"
    if not path.is_file():
        raise ArtifactError(
            f"{path} does not exist: give the results folder of the run's report (results/<experiment>)"
        )
    metrics = pd.read_csv(path, comment="#")
    method = checkpoint.info.get("method")
    mine = metrics[metrics["method"] == method]
    keep = [_described_with(Path(report), str(d), method, checkpoint.digest) for d in mine["dataset"]]
    rows = mine[keep]
    if rows.empty:
        raise ArtifactError(
            f"no row of {path} was described with {checkpoint.path} (method {method}, digest {checkpoint.digest}): "
            "give the report of the run that used this checkpoint, or export without --report"
        )
    return rows


def _recall_columns(rows: pd.DataFrame) -> list[int]:
    return sorted(int(c[2:]) for c in rows.columns if c.startswith("R@") and c[2:].isdigit())


def results_markdown(rows: pd.DataFrame) -> str:
    """R@N [lo, hi] per (dataset, queries), with the signature columns the report has."""
    signature = [c for c in rows.columns if "signature" in c.lower()]
    table = rows[["dataset", "queries", *signature, "n_queries"]].copy()
    for n in _recall_columns(rows):
        table[f"R@{n} [interval]"] = [
            f"{r[f'R@{n}']:.1f} [{r[f'R@{n}_lo']:.1f}, {r[f'R@{n}_hi']:.1f}]" for _, r in rows.iterrows()
        ]
    return table.to_markdown(index=False)


def model_index(name: str, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The card's `model-index`: one result per (dataset, queries), R@N as metrics."""
    results = []
    for _, r in rows.iterrows():
        metrics = [{"type": "recall", "name": f"R@{n}", "value": float(r[f"R@{n}"])} for n in _recall_columns(rows)]
        results.append(
            {
                "task": {"type": "image-feature-extraction", "name": "Visual place recognition"},
                "dataset": {"name": f"{r['dataset']} ({r['queries']} queries)", "type": str(r["dataset"])},
                "metrics": metrics,
            }
        )
    return [{"name": name, "results": results}]


def front_matter(trained_from: dict[str, Any], rows: pd.DataFrame | None, name: str) -> dict[str, Any]:
    """The card's YAML metadata; `trained_from`: the checkpoint's model settings (its starting weights)."""
    meta: dict[str, Any] = {
        "license": "mit",
        "library_name": "pytorch",
        "pipeline_tag": "image-feature-extraction",
        "tags": ["visual-place-recognition", "image-retrieval", "self-supervised-learning", "acmnet", "timm"],
    }
    if trained_from.get("pretrained") and not trained_from.get("weights"):  # timm's hub weights
        meta["base_model"] = f"timm/{trained_from['backbone']}"
    if rows is not None:
        meta["metrics"] = ["recall"]
        meta["model-index"] = model_index(name, rows)
    return meta


def model_card(config: dict[str, Any], checkpoint: Checkpoint, report: Path | None) -> str:
    """The card's text (Markdown with YAML front matter)."""
    training = config["training"]
    trained_on = Path((training.get("manifest") or {}).get("path", "unknown/manifest.csv")).parent.name
    name = f"{training['method']}-{trained_on}"
    rows = report_rows(Path(report), checkpoint) if report is not None else None
    fields_t = {f for f in TrainConfig.__dataclass_fields__}
    fields_m = {f for f in ModelConfig.__dataclass_fields__}
    tcfg = TrainConfig(**{k: v for k, v in training["train"].items() if k in fields_t})
    mcfg = ModelConfig(**{k: v for k, v in checkpoint.model_config.items() if k in fields_m})
    manifest = training.get("manifest") or {}
    size = config.get("image_size")
    parts = [
        "---\n" + yaml.safe_dump(front_matter(checkpoint.model_config, rows, name), sort_keys=False) + "---",
        f"# ACM-Net: {training['method']}, trained on {trained_on}",
        "ACM-Net (Musallam, Gaudillière, Aouada, arXiv 2303.02370): a self-supervised global descriptor for visual "
        "place recognition, released by the ACM-Net reproduction suite (`acmnet export`). Descriptor: "
        + (
            "normalize(P_A(E(x))), the paper's"
            if config["descriptor"] == "projector"
            else "normalize(E(x)), the pooled encoder output"
        )
        + f", {config.get('descriptor_dim') or 'the encoder width'}-d, unit norm.",
        '## Use\n\n```python\nimport torch\nmodel = torch.hub.load("<path or owner/repo of the suite>", "acmnet", '
        'weights="<this folder>", source="local")  # or source="github"\n'
        "descriptors = model(images)  # ImageNet-normalised (B, 3, H, W) -> (B, D), unit norm\n```\n\n"
        f"Trained at image size {size} (height, width): resize images to it to get the descriptors "
        "`acmnet describe` computed. In the suite, a row `{kind: acmnet, exported: <this folder>}` describes "
        "any dataset with it.",
        "## Training data\n\n"
        f"- manifest: `{manifest.get('path', 'unknown')}` (digest {manifest.get('digest', 'unknown')})\n"
        f"- the pixels of its `train` images: digest {training.get('train_images_digest')}\n"
        "- labels: none (self-supervised: an image against its appearance-augmented view, and its rotations)",
        "## Training\n\n"
        f"- seed {training.get('seed')}, {training.get('epochs')} epochs, {training.get('steps')} steps, "
        f"{training.get('world_size')} process(es); training digest {training.get('training_digest')}\n"
        f"- checkpoint digest {config['checkpoint']['digest']}; model.safetensors SHA-256 {config['weights_sha256']}\n"
        "- settings (config.json has all of them):\n\n```yaml\n"
        + yaml.safe_dump({"model": mcfg.__dict__, "train": tcfg.__dict__}, sort_keys=False)
        + "```",
    ]
    if rows is not None:
        parts.append(
            f"## Results\n\nFrom `{Path(report) / 'metrics.csv'}`: R@N in %, with the report's bootstrap interval "
            "(docs/statistics.md of the suite), rows whose descriptors this checkpoint made.\n\n"
            + results_markdown(rows)
        )
    else:
        parts.append("## Results\n\nNone given (exported without `--report`).")
    parts.append(
        "## Departures from the paper\n\nEvery choice the paper leaves open, as the paper words it and as this model "
        "was trained:\n\n" + "\n".join(f"- {c}" for c in model_choices(mcfg) + train_choices(tcfg))
    )
    parts.append(f"## Citation\n\n```bibtex\n{CITATION}\n```")
    return "\n\n".join(parts) + "\n"
