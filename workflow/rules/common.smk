# Configuration, paths and input functions shared by every rule file.
import json
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from acmnet.artifacts import file_digest
from acmnet.config import ConfigError, digest_of, merge, read_yaml, split_seed, typed_strings
from acmnet.config_loader import config_from_dict, seen_places_notes
from acmnet.data.datasets import dataset_type
from acmnet.data.datasets import files_read as dataset_files_read
from acmnet.data.listing import prepare_trigger
from acmnet.evaluate.msls_submission import unscored_lines
from acmnet.methods import method_kind, trained_methods, training_dataset
from acmnet.slurm import check_cluster
from acmnet.train.distributed import processes_for

# A --configfile replaces the paper preset instead of being merged into it. --config KEY=VALUE
# overrides single values of whichever file is used; nested ones as --config 'train={epochs: 5}',
# whose values Snakemake leaves as strings: they are read as YAML here.
try:
    if not workflow.overwrite_configfiles:
        config = merge(read_yaml(Path(workflow.source_path("../../config/config.yaml"))), config)
    config = merge(config, typed_strings(workflow.config_settings.config or {}))
    # Snakemake's own reader lets a repeated key, `__use_yte__` and alias bombs through.
    for configfile in workflow.configfiles:
        read_yaml(Path(configfile))
    CFG = config_from_dict(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")
for note in seen_places_notes(CFG):
    print(f"note: {note}", file=sys.stderr)

# Every step reads the run's configuration from its command line, never from a shared file that a
# later `snakemake` call (a dry run included) could rewrite under a running pipeline.
CONFIG_ARG = shlex.quote(json.dumps(config, sort_keys=True))

EXP = str(CFG.experiment_dir)
FIG = f"{CFG.figures_dir}/{CFG.experiment}"
LOG = f"logs/{CFG.experiment}"
DATASETS = list(CFG.datasets)
# How each dataset is scored (recall@N, or camera pose) is its type's own declaration.
POSED = [d for d in DATASETS if dataset_type(CFG.datasets[d].type).scoring == "pose"]
# Datasets without public ground truth (msls_test): a challenge file per method, nothing scored.
SUBMITTED = [d for d in DATASETS if dataset_type(CFG.datasets[d].type).scoring == "submission"]
RECALL = [d for d in DATASETS if d not in POSED and d not in SUBMITTED]
SCORED = RECALL + POSED  # none (only msls_test): no report, only the challenge files
SYNTHETIC = [d for d in DATASETS if dataset_type(CFG.datasets[d].type).synthesize is not None]
DOWNLOADED = [d for d in DATASETS if dataset_type(CFG.datasets[d].type).sources]
# One download per dataset root (datasets may share one: two stretches of one route, say).
DOWNLOADS = {re.sub(r"\W+", "_", CFG.datasets[d].root).strip("_"): d for d in reversed(DOWNLOADED)}
METHODS = list(CFG.methods)
TRAINED = trained_methods(CFG)
# Figures of trained rows: the first seed's run stands for the others.
FIGURED = [m for m in TRAINED if CFG.methods[m].seed in (None, (CFG.seeds or [None])[0])]


def flag(name, paths):
    """A command-line option with its paths (`[name, *paths]`), or nothing when there are none:
    a params value that a shell command quotes word by word (`{params.x:q}`)."""
    return [name, *paths] if paths else []


def job_cores(cpus_key):
    """Threads function of a heavy rule. Run here (the local executor): every core Snakemake was
    given, so heavy jobs run one at a time. On a cluster (any other executor, which leaves
    `workflow.cores` unset, and inside the cluster job): `resources.<cpus_key>` of the config, the
    CPUs the job asks the scheduler for and then uses (`--workers`, torch threads)."""

    def threads(wildcards):
        if workflow.local_exec:
            try:
                return max(1, min(workflow.cores, os.cpu_count() or 1))
            except WorkflowError:  # no --cores: nothing runs (--report)
                pass
        return getattr(CFG.resources, cpus_key)

    return threads


def check_slurm_cluster():
    """Before the first submission through the Slurm executor: stop, saying what to change, when the
    cluster would refuse a heavy job's request or the run could never see its jobs end
    (`acmnet.slurm.check_cluster`)."""
    plugin, settings = workflow.executor_plugin, workflow.executor_settings
    if plugin is None or plugin.name != "slurm":
        return
    uses_gpu = any(method_kind(CFG.methods[m].kind).uses_gpu for m in DESCRIBED)
    try:
        check_cluster(CFG, settings.status_command, settings.init_seconds_before_status_checks, bool(TRAINED), uses_gpu)
    except ConfigError as exc:
        raise WorkflowError(f"Slurm: {exc}")


onstart:
    check_slurm_cluster()


def settings(step):
    """Params function: the digest of the settings `step` reads (its rerun trigger, STEP_SETTINGS)."""
    return lambda w: CFG.settings_digest(step, w.get("dataset"), w.get("method"))


def raw_data(wildcards):
    """What must exist before a dataset's manifest: its rendered route, or its download."""
    d = wildcards.dataset
    if d in SYNTHETIC:
        return [f"{CFG.datasets[d].root}/route.csv"]
    if d in DOWNLOADED:
        return [f"{EXP}/downloads/{download_id(d)}.done"]
    return []


def raw_listing(wildcards):
    """Params function: what the dataset's folder holds (every file's name, size and time, no
    hashing; `acmnet.data.listing`), so replacing, adding or removing an image reruns `prepare` and
    everything after it, and the content of every other file its type reads (index files, structs,
    ground truth: `files_read`, wherever they live). A root not there yet is `absent`."""
    d = wildcards.dataset
    return prepare_trigger(CFG.datasets[d].root, dataset_files_read(CFG, d))


def download_id(dataset):
    """The name of the download of a dataset's root."""
    return next(k for k, d in DOWNLOADS.items() if CFG.datasets[d].root == CFG.datasets[dataset].root)


def synthetic_dataset(root):
    """The synthetic dataset rendered into `root`."""
    return next(d for d in SYNTHETIC if CFG.datasets[d].root == root)


def checkpoint_of(wildcards):
    """The checkpoint a method describes a dataset with: the model trained on that dataset (or on
    the method's `train_on` dataset), or none for untrained methods."""
    if wildcards.method in TRAINED:
        return [f"{EXP}/{training_dataset(CFG, wildcards.method, wildcards.dataset)}/{wildcards.method}/checkpoint.pt"]
    return []


def reads_files(method):
    """Whether a method's descriptors come from another tool's files (no images, no cache)."""
    return method_kind(CFG.methods[method].kind).read is not None


# Datasets some trained method trains on: training reads their image cache, so it is built; every other
# dataset is described (and drawn) straight from its image files, and so is any dataset above
# evaluate.cache_images_max images (`acmnet describe` counts them).
CACHED = [d for d in DATASETS if d in {training_dataset(CFG, m, other) for m in TRAINED for other in DATASETS}]
# Every training run's log (the report warns about runs whose outputs collapsed).
TRAIN_LOGS = sorted({f"{EXP}/{training_dataset(CFG, m, d)}/{m}/train_log.csv" for m in TRAINED for d in DATASETS})


def dataset_cache(wildcards):
    """The image cache of a dataset that training caches; none for the others (read from their files)."""
    return [f"{EXP}/{wildcards.dataset}/cache/images.npy"] if wildcards.dataset in CACHED else []


def cache_of(wildcards):
    """The image cache a method describes from: none for methods that read another tool's files, nor
    for datasets that are not cached."""
    return [] if reads_files(wildcards.method) else dataset_cache(wildcards)


def shards_of(method):
    """Describe jobs (parts) of a method per dataset: evaluate.describe_shards; one for another tool's files."""
    return 1 if reads_files(method) else CFG.evaluate.describe_shards


# Rows whose retrieval is a ranked list another tool made (`kind: reranked`): no descriptors.
RANKED = [m for m in METHODS if method_kind(CFG.methods[m].kind).imports_ranking]
DESCRIBED = [m for m in METHODS if m not in RANKED]
# Rows whose describer is checked for batch invariance (evaluate.check_invariance): every row that describes images.
INVARIANCE = [m for m in DESCRIBED if not reads_files(m)] if CFG.evaluate.check_invariance else []


def ranking_files(wildcards):
    """The ranked list a `kind: reranked` method reads for a dataset (its import step's input)."""
    spec = CFG.methods[wildcards.method]
    return method_kind(spec.kind).files(spec.options, wildcards.dataset)


def first_stage_retrieval(wildcards):
    """The retrieval a re-ranked list re-ranked: its first stage's (the first configured run of that
    method), an input of the import, which checks the list against it and records it by content; none
    for a ranking with no first stage here (`kind: matches`: another tool's scores)."""
    base = getattr(CFG.methods[wildcards.method].options, "first_stage", None)
    if base is None:
        return []
    run = next(m for m in METHODS if split_seed(m)[0] == base)
    return [f"{EXP}/{wildcards.dataset}/{run}/retrieval.npz"]


def import_settings(wildcards):
    """Params function of `import_ranking`: its settings digest and the content digest of the ranked
    lists, so a list replaced under its old time (cp -p, rsync -t) is imported and scored again."""
    step = CFG.settings_digest("import_ranking", wildcards.dataset, wildcards.method)
    try:
        contents = [file_digest(Path(path)) for path in ranking_files(wildcards)]
    except OSError:  # a list is missing: Snakemake names it as a missing input of import_ranking
        contents = "absent"
    return digest_of([step, contents])


def descriptor_parts(wildcards):
    """The records of every descriptor part of a (dataset, method), one per describe job; none for
    a ranked list."""
    if wildcards.method in RANKED:
        return []
    k, folder = shards_of(wildcards.method), f"{EXP}/{wildcards.dataset}/{wildcards.method}/descriptors"
    return [f"{folder}/part-{s:04d}-of-{k:04d}.json" for s in range(k)]


def external_files(wildcards):
    """Another tool's descriptor files a method reads for a dataset, or a released model's files (`kind: acmnet`
    with `exported`): its describe step's inputs."""
    spec = CFG.methods[wildcards.method]
    kind = method_kind(spec.kind)
    if kind.files is None or kind.imports_ranking:
        return []
    return kind.files(spec.options, wildcards.dataset)


def describe_settings(wildcards):
    """Params function of `describe`: its settings digest (as `settings`) and, for another tool's
    descriptors, the content digest of every file they are read from, so a file replaced under its
    old time (cp -p, rsync -t) reruns describe and every step after it. One value, so the other
    methods' describe jobs keep the parameter they had."""
    step = CFG.settings_digest("describe", wildcards.dataset, wildcards.method)
    if not external_files(wildcards):
        return step
    spec = CFG.methods[wildcards.method]
    try:
        files = method_kind(spec.kind).digests(spec.options, wildcards.dataset)
    except ValueError:  # a file is missing: Snakemake names it as a missing input of describe
        files = "absent"
    return digest_of([step, files])


def describe_gpus(wildcards):
    return CFG.resources.describe_gpu if method_kind(CFG.methods[wildcards.method].kind).uses_gpu else 0
