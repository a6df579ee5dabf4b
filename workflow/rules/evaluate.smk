# Descriptors, exact kNN retrieval, recall@N and (RobotCar) localisation for every (dataset, method).


rule describe:
    input:
        manifest=rules.prepare.output.manifest,
        cache=rules.cache.output.npy,
        checkpoint=checkpoint_of,
    output:
        descriptors=f"{EXP}/{{dataset}}/{{method}}/descriptors.npz",
    params:
        checkpoint=lambda w, input: f"--checkpoint {input.checkpoint}" if input.checkpoint else "",
        settings=settings("describe"),
    threads: all_cores
    resources:
        gpu=describe_gpus,
        mem_mb=CFG.resources.describe_mem_mb,
        runtime=CFG.resources.describe_runtime,
    log:
        f"{LOG}/describe/{{dataset}}_{{method}}.log",
    shell:
        "acmnet describe --config-json {CONFIG_ARG} --method {wildcards.method} --manifest {input.manifest} "
        "--cache {input.cache} {params.checkpoint} --out {output.descriptors} 2>&1 | tee {log}"


rule retrieve:
    input:
        descriptors=rules.describe.output.descriptors,
    output:
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    params:
        settings=settings("retrieve"),
    log:
        f"{LOG}/retrieve/{{dataset}}_{{method}}.log",
    shell:
        "acmnet retrieve --config-json {CONFIG_ARG} --descriptors {input.descriptors} --out {output.retrieval} "
        "2>&1 | tee {log}"


rule score:
    input:
        manifest=rules.prepare.output.manifest,
        retrieval=rules.retrieve.output.retrieval,
        descriptors=rules.describe.output.descriptors,
    output:
        metrics=f"{EXP}/{{dataset}}/{{method}}/metrics.csv",
        curve=f"{EXP}/{{dataset}}/{{method}}/recall_curve.csv",
    wildcard_constraints:
        dataset="|".join(RECALL) or "^$",
    params:
        settings=settings("score"),
    log:
        f"{LOG}/score/{{dataset}}_{{method}}.log",
    shell:
        "acmnet score --config-json {CONFIG_ARG} --dataset {wildcards.dataset} --method {wildcards.method} "
        "--manifest {input.manifest} --retrieval {input.retrieval} --descriptors {input.descriptors} "
        "--out {output.metrics} --curve-out {output.curve} 2>&1 | tee {log}"


rule localize:
    input:
        manifest=rules.prepare.output.manifest,
        retrieval=rules.retrieve.output.retrieval,
    output:
        submission=f"{EXP}/{{dataset}}/{{method}}/submission.txt",
        accuracy=f"{EXP}/{{dataset}}/{{method}}/pose_accuracy.csv",
    wildcard_constraints:
        dataset="|".join(POSED) or "^$",
    params:
        settings=settings("localize"),
    log:
        f"{LOG}/localize/{{dataset}}_{{method}}.log",
    shell:
        "acmnet localize --config-json {CONFIG_ARG} --method {wildcards.method} --manifest {input.manifest} "
        "--retrieval {input.retrieval} --submission {output.submission} --out {output.accuracy} 2>&1 | tee {log}"
