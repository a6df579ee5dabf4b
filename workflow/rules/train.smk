# Self-supervised training of every `acmnet`-kind method on every dataset.


rule train:
    input:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
        cache=f"{EXP}/{{dataset}}/cache/images.npy",
    output:
        checkpoint=f"{EXP}/{{dataset}}/{{method}}/checkpoint.pt",
        log_csv=f"{EXP}/{{dataset}}/{{method}}/train_log.csv",
    wildcard_constraints:
        method="|".join(TRAINED) or "^$",
    params:
        out_dir=lambda w, output: os.path.dirname(output.checkpoint),
        digest=lambda w: CFG.digest("model", "augment", "image_size", "seed", "device") + repr(CFG.train_for(w.method)),
    threads: 256  # all cores: Snakemake lowers this to --cores
    resources:
        gpu=CFG.resources.train_gpu,
        mem_mb=CFG.resources.train_mem_mb,
        runtime=CFG.resources.train_runtime,
    log:
        f"{LOG}/train/{{dataset}}_{{method}}.log",
    shell:
        "acmnet train --config {CONFIG_FILE} --method {wildcards.method} --manifest {input.manifest} "
        "--cache {input.cache} --out-dir {params.out_dir} 2>&1 | tee {log}"
