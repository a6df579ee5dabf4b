"""The MSLS challenge file: a method's K best database keys per MSLS-test query.

Written exactly as SALAD's `MSLSTest.save_predictions` writes it (dataloaders/val/MapillaryTestDataset.py)::

    for i in range(len(preds)):
        q = Path(self.qImages[i]).stem
        db = ' '.join([Path(self.dbImages[j]).stem for j in preds[i]])
        f.write(f"{q} {db}\\n")

one line per query, in qImages order: the query's key, then its K references' keys in rank order,
separated by single spaces, each line ending in a newline; no header. mapillary/mapillary_sls has
no `save_predictions`: its own writer, `create_dummy_predictions` (mapillary_sls/utils/eval.py),
writes the same rows with `np.savetxt(path, np.concatenate([query_keys, ranks], axis=1), fmt='%s',
header=...)` (a `#` header line, which the reader skips), and its `evaluate.py` reads the file with
`np.loadtxt(path, ndmin=2, dtype=str)`: one row per query, its key first. SALAD writes
K = max(k_values) = 25; here K is `evaluate.export_msls` (default: `evaluate.top_k`, 25 unless
changed). A key is the image's file name without its extension
(`acmnet.data.datasets.msls_test.key_of`). No recall is computed: the ground truth is the server's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acmnet.artifacts import Manifest, load_manifest, load_retrieval
from acmnet.config import Config
from acmnet.data.datasets.msls_test import key_of
from acmnet.io import atomic_write_text


class SubmissionError(ValueError):
    """The retrieval cannot give the submission asked for; the message says what to change."""


def submission_text(manifest: Manifest, indices: np.ndarray) -> str:
    """The file's text for `indices` (Q, K) reference positions, queries in manifest order."""
    images = manifest.frame["image"].astype(str).to_numpy()
    queries = [key_of(p) for p in images[manifest.rows("query")]]
    references = [key_of(p) for p in images[manifest.rows("reference")]]
    return "".join(f"{q} {' '.join(references[j] for j in row)}\n" for q, row in zip(queries, indices))


def write_submission(manifest_path: Path, retrieval_path: Path, out: Path, k: int) -> int:
    """Write the top `k` of every query of a retrieval as the MSLS challenge file; the queries written."""
    manifest = load_manifest(manifest_path)
    retrieval = load_retrieval(retrieval_path, manifest)
    if retrieval.indices.shape[1] < k:
        raise SubmissionError(
            f"{retrieval_path} keeps {retrieval.indices.shape[1]} retrievals per query, fewer than "
            f"evaluate.export_msls = {k}: raise evaluate.top_k to at least {k}"
        )
    if (retrieval.indices[:, :k] < 0).any():
        raise SubmissionError(f"{retrieval_path} holds fewer than {k} references for some query: lower export_msls")
    atomic_write_text(Path(out), submission_text(manifest, retrieval.indices[:, :k]))
    return int(retrieval.indices.shape[0])


def unscored_lines(cfg: Config) -> list[str]:
    """One line per dataset without public ground truth (`scoring: submission`): no recall, why, and
    where the challenge files are (for `summary.md` and the end of a run)."""
    from acmnet.data.datasets import dataset_type

    return [
        f"{name} (`{spec.type}`): no recall computed: MSLS-test's ground truth is not public, MSLS's challenge "
        f"server scores the predictions; each method's top {cfg.evaluate.msls_keys()} database keys per query are "
        f"in {cfg.experiment_dir}/{name}/<method>/msls_predictions.txt, the file to submit"
        for name, spec in cfg.datasets.items()
        if dataset_type(spec.type).scoring == "submission"
    ]
