# Descriptors, exact kNN retrieval and recall@N for every (dataset, method).


def trained_checkpoint(wildcards):
    if CFG.methods[wildcards.method].kind == "acmnet":
        return [f"{EXP}/{wildcards.dataset}/{wildcards.method}/checkpoint.pt"]
    return []


rule describe:
    input:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
        cache=f"{EXP}/{{dataset}}/cache/images.npy",
        checkpoint=trained_checkpoint,
    output:
        f"{EXP}/{{dataset}}/{{method}}/descriptors.npz",
    params:
        checkpoint=lambda w, input: f"--checkpoint {input.checkpoint}" if input.checkpoint else "",
        digest=lambda w: CFG.digest("model", "image_size") + repr(CFG.methods[w.method]),
    threads: 256  # all cores: Snakemake lowers this to --cores
    resources:
        gpu=lambda w: CFG.resources.describe_gpu if CFG.methods[w.method].kind != "pixels" else 0,
        mem_mb=CFG.resources.describe_mem_mb,
        runtime=CFG.resources.describe_runtime,
    log:
        f"{LOG}/describe/{{dataset}}_{{method}}.log",
    shell:
        "acmnet describe --config {CONFIG_FILE} --method {wildcards.method} --manifest {input.manifest} "
        "--cache {input.cache} {params.checkpoint} --out {output} 2>&1 | tee {log}"


rule retrieve:
    input:
        f"{EXP}/{{dataset}}/{{method}}/descriptors.npz",
    output:
        f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    params:
        digest=CFG.digest("evaluate"),
    log:
        f"{LOG}/retrieve/{{dataset}}_{{method}}.log",
    shell:
        "acmnet retrieve --config {CONFIG_FILE} --descriptors {input} --out {output} 2>&1 | tee {log}"


rule score:
    input:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
        descriptors=f"{EXP}/{{dataset}}/{{method}}/descriptors.npz",
    output:
        metrics=f"{EXP}/{{dataset}}/{{method}}/metrics.csv",
        curve=f"{EXP}/{{dataset}}/{{method}}/recall_curve.csv",
    params:
        digest=lambda w: CFG.digest("evaluate") + str(CFG.datasets[w.dataset].tolerance),
    log:
        f"{LOG}/score/{{dataset}}_{{method}}.log",
    shell:
        "acmnet score --config {CONFIG_FILE} --dataset {wildcards.dataset} --method {wildcards.method} "
        "--manifest {input.manifest} --retrieval {input.retrieval} --descriptors {input.descriptors} --out {output.metrics} "
        "--curve-out {output.curve} 2>&1 | tee {log}"


rule localize:
    input:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    output:
        submission=f"{EXP}/{{dataset}}/{{method}}/submission.txt",
        accuracy=f"{EXP}/{{dataset}}/{{method}}/pose_accuracy.csv",
    wildcard_constraints:
        dataset="|".join(POSED) or "^$",
    log:
        f"{LOG}/localize/{{dataset}}_{{method}}.log",
    shell:
        "acmnet localize --config {CONFIG_FILE} --method {wildcards.method} --manifest {input.manifest} "
        "--retrieval {input.retrieval} --submission {output.submission} --out {output.accuracy} 2>&1 | tee {log}"
