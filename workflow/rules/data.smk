# Data: downloads, synthetic demo routes, manifests, image caches.


rule download:
    output:
        f"{EXP}/downloads/{{download}}.done",
    log:
        f"{LOG}/download/{{download}}.log",
    wildcard_constraints:
        download="|".join(DOWNLOADS) or "^$",
    params:
        type=lambda w: CFG.datasets[DOWNLOADS[w.download]].type,
        root=lambda w: CFG.datasets[DOWNLOADS[w.download]].root,
        note=lambda w: "{0.type} downloaded into {0.root}".format(CFG.datasets[DOWNLOADS[w.download]]),
    shell:
        "acmnet download {params.type:q} --root {params.root:q} 2>&1 | tee {log:q} && "
        "echo {params.note:q} > {output:q}"


rule synthesize:
    output:
        route="{root}/route.csv",
    log:
        f"{LOG}/synthesize/{{root}}.log",
    wildcard_constraints:
        root="|".join(re.escape(CFG.datasets[d].root) for d in SYNTHETIC) or "^$",
    params:
        dataset=lambda w: synthetic_dataset(w.root),
        settings=lambda w: CFG.settings_digest("synthesize", synthetic_dataset(w.root)),
    shell:
        "acmnet synthesize --config-json {CONFIG_ARG} --dataset {params.dataset:q} 2>&1 | tee {log:q}"


rule prepare:
    input:
        raw_data,
    output:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
    log:
        f"{LOG}/prepare/{{dataset}}.log",
    params:
        settings=settings("prepare"),
        raw_data=raw_listing,
    shell:
        "acmnet prepare --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --out {output.manifest:q} 2>&1 | tee {log:q}"


rule positives:
    input:
        manifest=rules.prepare.output.manifest,
    output:
        positives=f"{EXP}/{{dataset}}/positives.npz",
    log:
        f"{LOG}/positives/{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(RECALL) or "^$",
    params:
        settings=settings("positives"),
    shell:
        "acmnet positives --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --manifest {input.manifest:q} "
        "--out {output.positives:q} 2>&1 | tee {log:q}"


rule cache:
    input:
        manifest=rules.prepare.output.manifest,
    output:
        npy=f"{EXP}/{{dataset}}/cache/images.npy",
        index=f"{EXP}/{{dataset}}/cache/images.json",
    log:
        f"{LOG}/cache/{{dataset}}.log",
    threads: job_cores("describe_cpus")
    params:
        settings=settings("cache"),
    shell:
        "acmnet cache --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --manifest {input.manifest:q} "
        "--out {output.npy:q} --workers {threads} 2>&1 | tee {log:q}"
