# Self-supervised training of every trained method on every dataset.


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
    threads: all_cores
    resources:
        gpu=CFG.resources.train_gpu,
        mem_mb=CFG.resources.train_mem_mb,
        runtime=CFG.resources.train_runtime,
    params:
        out_dir=lambda w, output: os.path.dirname(output.checkpoint),
        runs_dir=lambda w: f"{EXP}/{w.dataset}/runs",
        settings=settings("train"),
    shell:
        "acmnet train --config-json {CONFIG_ARG} --method {wildcards.method:q} --manifest {input.manifest:q} "
        "--cache {input.cache:q} --out-dir {params.out_dir:q} --runs-dir {params.runs_dir:q} 2>&1 | tee {log:q}"
