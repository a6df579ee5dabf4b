# Data: synthetic demo routes, manifests, image caches.

SYNTHETIC_ROOTS = {d: CFG.datasets[d].root for d in DATASETS if CFG.datasets[d].type == "synthetic"}


def synthetic_route(wildcards):
    root = SYNTHETIC_ROOTS.get(wildcards.dataset)
    return [f"{root}/route.csv"] if root else []


for _name, _root in SYNTHETIC_ROOTS.items():

    rule:
        name:
            f"synthesize_{_name}"
        output:
            f"{_root}/route.csv",
        params:
            dataset=_name,
            digest=repr(CFG.datasets[_name].options),
        log:
            f"{LOG}/synthesize/{_name}.log",
        shell:
            "acmnet synthesize --config {CONFIG_FILE} --dataset {params.dataset} 2>&1 | tee {log}"


rule prepare:
    input:
        synthetic_route,
    output:
        f"{EXP}/{{dataset}}/manifest.csv",
    params:
        digest=lambda w: repr(CFG.datasets[w.dataset]),
    log:
        f"{LOG}/prepare/{{dataset}}.log",
    shell:
        "acmnet prepare --config {CONFIG_FILE} --dataset {wildcards.dataset} --out {output} 2>&1 | tee {log}"


rule cache:
    input:
        f"{EXP}/{{dataset}}/manifest.csv",
    output:
        npy=f"{EXP}/{{dataset}}/cache/images.npy",
        index=f"{EXP}/{{dataset}}/cache/images.json",
    params:
        size=list(CFG.image_size),
    threads: 2
    log:
        f"{LOG}/cache/{{dataset}}.log",
    shell:
        "acmnet cache --config {CONFIG_FILE} --dataset {wildcards.dataset} --manifest {input} "
        "--out {output.npy} --workers {threads} 2>&1 | tee {log}"
