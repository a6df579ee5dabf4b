"""The files that pass between steps: a typed save and load for each, with their provenance.

| file                     | made by   | type           | what it records it was made from                           |
|--------------------------|-----------|----------------|------------------------------------------------------------|
| manifest.csv             | prepare   | `Manifest`     | the dataset settings                                       |
| positives.npz            | positives | `Positives`    | the manifest, the ground-truth settings                    |
| cache/images.npy + .json | cache     | `ImageCache`   | the manifest, the image size (and the array's digest)      |
| checkpoint.pt            | train     | `Checkpoint`   | the training manifest and images, the settings, the method |
| descriptors/part-*       | describe  | `Descriptors`  | the manifest, the pixels, the checkpoint, the method       |
| retrieval.npz            | retrieve  | `Retrieval`    | the descriptors (and what they were made from), the method |
| metrics.csv, curve.csv   | score     | `pd.DataFrame` | the retrieval (and what it was made from), the method      |

Every file records a `Provenance`: the step, the settings it read (`Config.settings`) and the
digest of each input file, with the inputs' own provenance below them (their *lineage*, keys
such as `descriptors.checkpoint`). A load given the files the caller is combining checks them
against that lineage and refuses a mismatch (`ProvenanceError`, naming both files); a missing,
truncated or foreign file is an `ArtifactError` naming the file and the step to rerun. No step
reads an `.npz` or a checkpoint by its keys itself.

Descriptors are written in parts, one per describe job (`evaluate.describe_shards`, one by
default): `descriptors/part-<s>-of-<K>.reference.npy` and `.query.npy`, plain float32 arrays that
every reader memory-maps, and `part-<s>-of-<K>.json`, the part's record, written last: its shard,
the positions of its rows in the whole set, their manifest rows, each array's shape, size and
digest (checked on every load), the digest of the pixels it described, and the provenance (the
same for every part of a run). `load_descriptors` takes the parts (their records, or the folder)
and gives one `Descriptors`: every part present once, their slices contiguous, all made by the
same run, or an error naming the part to redo. CSV outputs keep their provenance in a JSON
file beside them (`metrics.provenance.json` for `metrics.csv`), with the CSV's digest: a CSV
whose bytes no longer match its record (a row deleted, a value edited) is an `ArtifactError`
naming the file and the step to rerun, never read as if the record were absent. A CSV with no
record at all is read only where a hand-made file is a documented input (metrics, recall curve
and ranks files: `acmnet report`, `acmnet tables --metrics`); a manifest must have its record.

Every file also records the *method* it was made for: a checkpoint in `info["method"]` (with its
training settings in its provenance), descriptors, retrievals and the tables made from them in
their settings' `method_name`. The steps given a method (`describe`, `retrieve`, `score`,
`localize`, `gradcam`, `figure-retrievals`) check it (`check_method`, and `check_trained_for` for
a checkpoint's training settings), so two methods' files swapped are refused, never scored as
each other's rows.

One module per kind of file: `provenance` (records, checks, the CSV sidecar), `manifest`, `cache`,
`checkpoint`, `descriptors` (parts and their cost), `retrieval`, `positives`, `tables` (results
CSVs), with `npz` the shared `.npz` layer. Every public name is re-exported here, so
`from acmnet.artifacts import load_retrieval` is how steps use them.
"""

from acmnet.artifacts.cache import ImageCache, cache_meta_path, load_cache, pixel_digest, write_cache_meta
from acmnet.artifacts.checkpoint import Checkpoint, check_trained_for, load_checkpoint, save_checkpoint
from acmnet.artifacts.descriptors import (
    PART_KIND,
    ROLES,
    DescriptorCost,
    DescriptorPart,
    DescriptorPartWriter,
    Descriptors,
    descriptor_cost,
    descriptor_part_writer,
    load_descriptor_part,
    load_descriptors,
    part_files,
    save_descriptor_part,
    save_descriptors,
    shard_slice,
)
from acmnet.artifacts.manifest import Manifest, load_manifest, save_manifest
from acmnet.artifacts.positives import Positives, load_positives, save_positives, write_positives
from acmnet.artifacts.provenance import (
    FORMAT,
    ArtifactError,
    ExternalFile,
    Provenance,
    ProvenanceError,
    Source,
    check_external_sources,
    check_first_stage_source,
    check_made_from,
    check_method,
    file_digest,
    made_for,
    provenance,
)
from acmnet.artifacts.retrieval import TIMING_KEY, Retrieval, load_retrieval, record_timing, save_retrieval
from acmnet.artifacts.tables import (
    CURVE_COLUMNS,
    METRICS_COLUMNS,
    POSE_ACCURACY_COLUMNS,
    POSE_ACCURACY_OPTIONAL_COLUMNS,
    RANKS_COLUMNS,
    load_curves,
    load_metrics,
    load_pose_accuracy,
    load_ranks,
    save_table,
    table_provenance,
)

__all__ = [
    "CURVE_COLUMNS",
    "FORMAT",
    "METRICS_COLUMNS",
    "PART_KIND",
    "POSE_ACCURACY_COLUMNS",
    "POSE_ACCURACY_OPTIONAL_COLUMNS",
    "RANKS_COLUMNS",
    "ROLES",
    "TIMING_KEY",
    "ArtifactError",
    "Checkpoint",
    "DescriptorCost",
    "DescriptorPart",
    "DescriptorPartWriter",
    "Descriptors",
    "ExternalFile",
    "ImageCache",
    "Manifest",
    "Positives",
    "Provenance",
    "ProvenanceError",
    "Retrieval",
    "Source",
    "cache_meta_path",
    "check_external_sources",
    "check_first_stage_source",
    "check_made_from",
    "check_method",
    "check_trained_for",
    "descriptor_cost",
    "descriptor_part_writer",
    "file_digest",
    "load_cache",
    "load_checkpoint",
    "load_curves",
    "load_descriptor_part",
    "load_descriptors",
    "load_manifest",
    "load_metrics",
    "load_pose_accuracy",
    "load_positives",
    "load_ranks",
    "load_retrieval",
    "made_for",
    "part_files",
    "pixel_digest",
    "provenance",
    "record_timing",
    "save_checkpoint",
    "save_descriptor_part",
    "save_descriptors",
    "save_manifest",
    "save_positives",
    "save_retrieval",
    "save_table",
    "shard_slice",
    "table_provenance",
    "write_cache_meta",
    "write_positives",
]
