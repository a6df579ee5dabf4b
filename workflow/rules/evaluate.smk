# Descriptors, exact kNN retrieval, recall@N and (RobotCar) localisation for every (dataset, method).


rule describe:
    input:
        manifest=rules.prepare.output.manifest,
        cache=cache_of,
        checkpoint=checkpoint_of,
        external=external_files,
    output:
        record=f"{EXP}/{{dataset}}/{{method}}/descriptors/part-{{shard}}-of-{{shards}}.json",
        reference=f"{EXP}/{{dataset}}/{{method}}/descriptors/part-{{shard}}-of-{{shards}}.reference.npy",
        query=f"{EXP}/{{dataset}}/{{method}}/descriptors/part-{{shard}}-of-{{shards}}.query.npy",
    log:
        f"{LOG}/describe/{{dataset}}/{{method}}/part-{{shard}}-of-{{shards}}.log",
    wildcard_constraints:
        shard=r"\d\d\d\d+",
        shards=r"\d\d\d\d+",
    threads: job_cores("describe_cpus")
    resources:
        gpu=describe_gpus,
        mem_mb=CFG.resources.describe_mem_mb,
        runtime=CFG.resources.describe_runtime,
    params:
        checkpoint=lambda w, input: flag("--checkpoint", input.checkpoint),
        cache=lambda w, input: flag("--cache", input.cache),
        folder=lambda w, output: os.path.dirname(output.record),
        part=lambda w: ["--shard", int(w.shard), "--shards", int(w.shards)],
        settings=describe_settings,
    shell:
        "acmnet describe --config-json {CONFIG_ARG} --method {wildcards.method:q} --dataset {wildcards.dataset:q} "
        "--manifest {input.manifest:q} {params.cache:q} {params.checkpoint:q} --out {params.folder:q} {params.part:q} "
        "--workers {threads} 2>&1 | tee {log:q}"


rule check_invariance:
    input:
        manifest=rules.prepare.output.manifest,
        cache=cache_of,
        checkpoint=checkpoint_of,
    output:
        table=f"{EXP}/{{dataset}}/{{method}}/invariance.csv",
    log:
        f"{LOG}/check_invariance/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        dataset="|".join(RECALL) or "^$",
        method="|".join(INVARIANCE) or "^$",
    resources:
        gpu=describe_gpus,
        mem_mb=CFG.resources.describe_mem_mb,
        runtime=CFG.resources.describe_runtime,
    params:
        checkpoint=lambda w, input: flag("--checkpoint", input.checkpoint),
        cache=lambda w, input: flag("--cache", input.cache),
        settings=describe_settings,
    shell:
        "acmnet check-invariance --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} "
        "--method {wildcards.method:q} --manifest {input.manifest:q} {params.cache:q} {params.checkpoint:q} "
        "--out {output.table:q} 2>&1 | tee {log:q}"


rule retrieve:
    input:
        descriptors=descriptor_parts,
    output:
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    log:
        f"{LOG}/retrieve/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        method="|".join(DESCRIBED) or "^$",
    params:
        settings=settings("retrieve"),
    shell:
        "acmnet retrieve --config-json {CONFIG_ARG} --method {wildcards.method:q} --descriptors {input.descriptors:q} "
        "--out {output.retrieval:q} 2>&1 | tee {log:q}"


rule import_ranking:
    input:
        manifest=rules.prepare.output.manifest,
        ranking=ranking_files,
        first=first_stage_retrieval,
    output:
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    log:
        f"{LOG}/import_ranking/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        method="|".join(RANKED) or "^$",
    params:
        settings=import_settings,
        first=lambda w, input: flag("--first-stage", input.first),
    shell:
        "acmnet import-ranking --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --method {wildcards.method:q} "
        "--manifest {input.manifest:q} {params.first:q} --out {output.retrieval:q} 2>&1 | tee {log:q}"


rule export_pairs:
    input:
        manifest=rules.prepare.output.manifest,
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    output:
        pairs=f"{EXP}/{{dataset}}/{{method}}/pairs.txt",
    log:
        f"{LOG}/export_pairs/{{dataset}}/{{method}}.log",
    params:
        settings=settings("export_pairs"),
    shell:
        "acmnet export-pairs --config-json {CONFIG_ARG} --method {wildcards.method:q} --manifest {input.manifest:q} "
        "--retrieval {input.retrieval:q} --out {output.pairs:q} 2>&1 | tee {log:q}"


rule export_msls:
    input:
        manifest=rules.prepare.output.manifest,
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    output:
        submission=f"{EXP}/{{dataset}}/{{method}}/msls_predictions.txt",
    log:
        f"{LOG}/export_msls/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        dataset="|".join(SUBMITTED) or "^$",
    params:
        settings=settings("export_msls"),
    shell:
        "acmnet export-msls --config-json {CONFIG_ARG} --method {wildcards.method:q} --manifest {input.manifest:q} "
        "--retrieval {input.retrieval:q} --out {output.submission:q} 2>&1 | tee {log:q}"


rule score:
    input:
        manifest=rules.prepare.output.manifest,
        positives=rules.positives.output.positives,
        retrieval=rules.retrieve.output.retrieval,
        descriptors=descriptor_parts,
    output:
        metrics=f"{EXP}/{{dataset}}/{{method}}/metrics.csv",
        curve=f"{EXP}/{{dataset}}/{{method}}/recall_curve.csv",
        ranks=f"{EXP}/{{dataset}}/{{method}}/ranks.csv",
    log:
        f"{LOG}/score/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        dataset="|".join(RECALL) or "^$",
    params:
        settings=settings("score"),
        descriptors=lambda w, input: flag("--descriptors", input.descriptors),
    shell:
        "acmnet score --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --method {wildcards.method:q} "
        "--manifest {input.manifest:q} --positives {input.positives:q} --retrieval {input.retrieval:q} "
        "{params.descriptors:q} --out {output.metrics:q} --curve-out {output.curve:q} --ranks-out {output.ranks:q} 2>&1 | tee {log:q}"


rule localize:
    input:
        manifest=rules.prepare.output.manifest,
        retrieval=rules.retrieve.output.retrieval,
    output:
        submission=f"{EXP}/{{dataset}}/{{method}}/submission.txt",
        accuracy=f"{EXP}/{{dataset}}/{{method}}/pose_accuracy.csv",
    log:
        f"{LOG}/localize/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        dataset="|".join(POSED) or "^$",
    params:
        settings=settings("localize"),
    shell:
        "acmnet localize --config-json {CONFIG_ARG} --method {wildcards.method:q} --manifest {input.manifest:q} "
        "--retrieval {input.retrieval:q} --submission {output.submission:q} --out {output.accuracy:q} 2>&1 | tee {log:q}"
