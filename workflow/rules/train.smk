# Self-supervised training of every trained method on every dataset.
#
# A job trains with processes_for(CFG, method) processes: one per GPU when resources.train_gpu is
# above 1, else train.processes (gloo on the CPU). Several are started by torchrun on the job's
# node (locally, or inside the Slurm job), each with its share of the job's threads.

try:
    for m in TRAINED:
        processes_for(CFG, m)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")


# The thread counts Snakemake sets for a job's shell (snakemake/shell.py): each process gets its share.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def train_launcher(wildcards, threads):
    """Params function: what runs `acmnet` in a training job. Several processes share the job's
    threads: each gets threads // n in every variable Snakemake sets to the job's threads (MKL at
    the job's count under OMP at 1 changes the arithmetic: the model would differ from a
    hand-started torchrun's)."""
    n = processes_for(CFG, wildcards.method)
    if n == 1:
        return "acmnet"
    share = " ".join(f"{name}={max(1, threads // n)}" for name in THREAD_VARIABLES)
    return f"{share} torchrun --standalone --nnodes 1 --nproc-per-node {n} -m acmnet.cli"


rule train:
    input:
        manifest=rules.prepare.output.manifest,
        cache=rules.cache.output.npy,
    output:
        checkpoint=f"{EXP}/{{dataset}}/{{method}}/checkpoint.pt",
        log_csv=f"{EXP}/{{dataset}}/{{method}}/train_log.csv",
    log:
        f"{LOG}/train/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        method="|".join(TRAINED) or "^$",
    threads: job_cores("train_cpus")
    resources:
        gpu=CFG.resources.train_gpu,
        mem_mb=CFG.resources.train_mem_mb,
        runtime=CFG.resources.train_runtime,
    params:
        launch=train_launcher,
        out_dir=lambda w, output: os.path.dirname(output.checkpoint),
        runs_dir=lambda w: f"{EXP}/{w.dataset}/runs",
        settings=settings("train"),
    shell:
        "{params.launch} train --config-json {CONFIG_ARG} --method {wildcards.method:q} --manifest {input.manifest:q} "
        "--cache {input.cache:q} --out-dir {params.out_dir:q} --runs-dir {params.runs_dir:q} 2>&1 | tee {log:q}"
