"""The checkpoint (`checkpoint.pt`, made by `acmnet train`) as a `Checkpoint`; the check of its training settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acmnet.artifacts.provenance import ArtifactError, Provenance, ProvenanceError, file_digest
from acmnet.config import digest_of
from acmnet.io import atomic_path

# ---- checkpoint --------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A finished model (`checkpoint.pt`): weights, the settings that made it, its provenance."""

    model_state: dict[str, Any]
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    info: dict[str, Any]  # method, epochs, steps, world size
    path: Path
    digest: str
    provenance: Provenance


def save_checkpoint(
    path: Path,
    model_state: dict[str, Any],
    model_config: dict[str, Any],
    train_config: dict[str, Any],
    info: dict[str, Any],
    prov: Provenance,
) -> None:
    import torch

    state = {
        "model": model_state,
        "model_config": model_config,
        "train_config": train_config,
        "info": info,
        "provenance": prov.to_json(),
        "kind": "acmnet-checkpoint",
    }
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # through a Python file: a full disk is OSError(ENOSPC), not torch's RuntimeError


def load_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint written by `acmnet train` (loaded on the CPU, tensors only)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"checkpoint {path} does not exist: train the method first (acmnet train)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"{path} is not an acmnet checkpoint ({type(exc).__name__}): give the checkpoint.pt "
            "written by `acmnet train`"
        ) from exc
    if not isinstance(state, dict) or state.get("kind") != "acmnet-checkpoint":
        hint = (
            " (it is a resumable training state, last.pt)" if isinstance(state, dict) and "optimizer" in state else ""
        )
        raise ArtifactError(
            f"{path} is not a finished acmnet checkpoint{hint}: give the checkpoint.pt written by `acmnet train`"
        )
    prov = Provenance.from_json(state["provenance"], path)
    return Checkpoint(
        state["model"], state["model_config"], state["train_config"], state["info"], path, file_digest(path), prov
    )


def check_trained_for(checkpoint: Checkpoint, method: str, settings: dict[str, Any]) -> None:
    """`checkpoint` must have been trained with the training settings `settings`
    (`Config.settings("train", method=method)`) that the config gives `method` now: a checkpoint
    of another method, or a stale one of the same name, is refused. Rows whose training settings
    are equal share one training run (its folder is named by those settings), so a checkpoint
    first trained for another such row is the same model and is accepted."""
    recorded = {k: v for k, v in checkpoint.provenance.settings.items() if k != "train_images"}
    if digest_of(recorded) == digest_of(settings):
        return
    made_for = checkpoint.info.get("method")
    differ = sorted(k for k in {*recorded, *settings} if digest_of(recorded.get(k)) != digest_of(settings.get(k)))
    whose = f"for method {made_for}" if made_for == method else f"for method {made_for}, not {method},"
    raise ProvenanceError(
        f"{checkpoint.path} was trained {whose} with other settings than the config gives {method} "
        f"(training settings digest {digest_of(recorded)}, not {digest_of(settings)}; differing: "
        f"{', '.join(differ)}): a stale or foreign checkpoint; train it again (`acmnet train --method {method}`)"
    )
