"""Shared fixtures. Tests never touch the network: the hub is forced offline."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from acmnet.artifacts import ImageCache, Manifest, load_cache, provenance, save_manifest
from acmnet.config import ModelConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS for the GPU resume test

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def nordland64_root() -> Path:
    root = SHARED_DATA / "nordland64"
    if not (root / "frames.csv").is_file():
        pytest.skip(f"real-data sample not found at {root} (only present on the development machines)")
    return root


def spawn_ranks(worker, args: tuple, world: int = 2) -> None:
    """Run `worker(rank, *args)` in `world` spawned processes, as torchrun would start them.

    As under torchrun, the rendezvous store is served by the launching process (here, this one),
    not by rank 0: a rank may finish and exit before the others have torn down their process
    group without pulling the store away from them (which aborted a rank now and then). The
    store binds a free port itself, so no other process can take the port in between. Each rank
    finds MASTER_ADDR/MASTER_PORT and TORCHELASTIC_USE_AGENT_STORE in its environment (set by
    `rank_environment`).
    """
    import datetime

    import torch.distributed as dist
    import torch.multiprocessing as mp

    store = dist.TCPStore(
        "127.0.0.1", 0, world, is_master=True, wait_for_workers=False, timeout=datetime.timedelta(seconds=120)
    )
    try:
        mp.start_processes(worker, args=(store.port, *args), nprocs=world, start_method="spawn")
    finally:
        del store


def rank_environment(rank: int, port: int, world: int = 2) -> None:
    """The environment torchrun gives a rank, for the store that `spawn_ranks` serves."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TORCHELASTIC_USE_AGENT_STORE="True",
    )


def leave_group() -> None:
    """End a test rank's process group after the others are done with it (barrier first)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# A tiny random backbone with small heads: fast model tests without weights.
TINY = ModelConfig(
    backbone="test_efficientnet", pretrained=False, projector_hidden=32, projector_dim=16, rotation_hidden=8
)


def doc_module(heading: str, name: str, doc: str = "docs/extending.md"):
    """The first Python block under `heading` of the documentation file `doc`, run as written into a module `name`."""
    import re
    import types

    text = (REPO / doc).read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index(heading) :], re.S).group(1)
    module = types.ModuleType(name)
    exec(compile(code, doc, "exec", dont_inherit=True), module.__dict__)  # not conftest's __future__
    return module


def write_manifest(frame: pd.DataFrame, path: Path) -> Manifest:
    """A manifest file as `acmnet prepare` writes it (validated, with its provenance)."""
    return save_manifest(frame, Path(path), provenance("prepare", {"test": True}))


def write_positives(manifest_path: Path, tolerance: int) -> Path:
    """The positives of a manifest's queries by a +/- `tolerance` place window, as `acmnet positives`
    writes them for a `places` dataset; the file's path (beside the manifest, named by the tolerance)."""
    from acmnet.artifacts import load_manifest
    from acmnet.artifacts import write_positives as write

    out = Path(manifest_path).with_suffix(f".positives{tolerance}.npz")
    write(load_manifest(manifest_path), out, "places", tolerance, None, {"dataset.tolerance": tolerance})
    return out


def write_cache(manifest: Manifest, root: Path, out: Path, size: tuple[int, int]) -> ImageCache:
    """The image cache of `manifest` (images under `root`), as `acmnet cache` writes it."""
    from acmnet.data.cache import build_cache

    build_cache(manifest, Path(root), Path(out), size, {"image_size": list(size)}, progress=False)
    return load_cache(Path(out), manifest)


def write_checkpoint(path: Path, model: torch.nn.Module, cfg, method: str = "acmnet") -> Path:
    """`model`'s weights as the finished checkpoint of `method` that `acmnet train` writes with
    `cfg` (a Config): its info names the method, its provenance holds the method's training settings."""
    from dataclasses import asdict

    from acmnet.artifacts import save_checkpoint

    settings = {**cfg.settings("train", method=method), "train_images": "test"}
    info = {"method": method, "epochs": 0, "steps": 0, "world_size": 1}
    save_checkpoint(
        Path(path), model.state_dict(), asdict(cfg.model_for(method)), {}, info, provenance("train", settings)
    )
    return Path(path)


def write_retrieval(
    folder: Path,
    manifest: Manifest,
    indices,
    reference=None,
    query=None,
    name: str = "r",
    checkpoint=None,
    method: str = "acmnet",
):
    """Descriptors (`<name>.d.npz`, identity vectors unless given) and retrieval (`<name>.npz`) files
    of `method` made from `manifest` (and `checkpoint`, a loaded Checkpoint), as describe and
    retrieve make them; returns the retrieval."""
    import numpy as np

    from acmnet.artifacts import provenance, save_descriptors, save_retrieval

    rows = {r: manifest.rows(r) for r in ("reference", "query")}
    dim = max(len(rows["reference"]), 1)
    reference = np.eye(dim, dtype=np.float32)[: len(rows["reference"])] if reference is None else reference
    query = np.zeros((len(rows["query"]), reference.shape[1]), np.float32) if query is None else query
    desc = save_descriptors(
        Path(folder) / f"{name}.d.npz",
        np.asarray(reference, np.float32),
        np.asarray(query, np.float32),
        rows["reference"],
        rows["query"],
        provenance("describe", {"method_name": method}, manifest=manifest, checkpoint=checkpoint),
    )
    indices = np.asarray(indices, dtype=np.int64)
    return save_retrieval(
        Path(folder) / f"{name}.npz",
        indices,
        np.zeros(indices.shape, np.float32),
        rows["reference"],
        rows["query"],
        provenance("retrieve", {"method_name": method}, descriptors=desc),
    )
