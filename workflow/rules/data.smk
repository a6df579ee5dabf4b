# Data: downloads, synthetic demo routes, manifests, image caches.
from acmnet.data.datasets import dataset_module

SYNTHETIC_ROOTS = {d: CFG.datasets[d].root for d in DATASETS if CFG.datasets[d].type == "synthetic"}


DOWNLOADED = [d for d in DATASETS if getattr(dataset_module(CFG.datasets[d].type), "SOURCES", None)]


def raw_data(wildcards):
    """What must exist before a dataset's manifest: its rendered route, or its download."""
    root = SYNTHETIC_ROOTS.get(wildcards.dataset)
    if root:
        return [f"{root}/route.csv"]
    if wildcards.dataset in DOWNLOADED:
        return [f"{EXP}/{wildcards.dataset}/download.done"]
    return []


rule download:
    output:
        f"{EXP}/{{dataset}}/download.done",
    wildcard_constraints:
        dataset="|".join(DOWNLOADED) or "^$",
    params:
        type=lambda w: CFG.datasets[w.dataset].type,
        root=lambda w: CFG.datasets[w.dataset].root,
    log:
        f"{LOG}/download/{{dataset}}.log",
    shell:
        "acmnet download {params.type} --root {params.root} 2>&1 | tee {log} && "
        "echo '{params.type} downloaded into {params.root}' > {output}"


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
        raw_data,
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
