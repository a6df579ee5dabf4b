# The results table (CSV + LaTeX) and figures of the whole experiment.


rule report:
    input:
        metrics=expand(f"{EXP}/{{dataset}}/{{method}}/metrics.csv", dataset=RECALL, method=METHODS),
        curves=expand(f"{EXP}/{{dataset}}/{{method}}/recall_curve.csv", dataset=RECALL, method=METHODS),
    output:
        metrics=report(f"{EXP}/metrics.csv", caption="../report/metrics.rst", category="Results"),
        table=report(f"{EXP}/tables/recall.tex", caption="../report/tables.rst", category="Tables"),
        figures=[
            report(f"{FIG}/recall_curves.png", caption="../report/recall_curves.rst", category="Figures"),
            f"{FIG}/recall_curves.pdf",
        ],
    params:
        digest=lambda w: CFG.digest("train", "model", "image_size", "evaluate"),
    log:
        f"{LOG}/report.log",
    shell:
        "acmnet report --config {CONFIG_FILE} --metrics {input.metrics} --curves {input.curves} "
        "--out-metrics {output.metrics} --out-table {output.table} --figures {output.figures} 2>&1 | tee {log}"


rule figure_retrievals:
    input:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
        cache=f"{EXP}/{{dataset}}/cache/images.npy",
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
    output:
        png=report(f"{FIG}/retrievals_{{dataset}}_{{method}}.png", caption="../report/retrievals.rst", category="Figures"),
        pdf=f"{FIG}/retrievals_{{dataset}}_{{method}}.pdf",
    log:
        f"{LOG}/figure_retrievals/{{dataset}}_{{method}}.log",
    shell:
        "acmnet figure-retrievals --config {CONFIG_FILE} --dataset {wildcards.dataset} --manifest {input.manifest} "
        "--cache {input.cache} --retrieval {input.retrieval} --out {output.png} {output.pdf} 2>&1 | tee {log}"


rule paper_tables:
    input:
        metrics=expand(f"{EXP}/{{dataset}}/{{method}}/metrics.csv", dataset=RECALL, method=METHODS),
        robotcar=expand(f"{EXP}/{{dataset}}/{{method}}/pose_accuracy.csv", dataset=POSED, method=METHODS),
    output:
        [report(f"{EXP}/tables/table{n}.tex", caption="../report/tables.rst", category="Tables") for n in (2, 3, 4)],
    params:
        digest=lambda w: CFG.digest("train", "model", "image_size", "evaluate"),
        robotcar=lambda w, input: f"--robotcar-scores {' '.join(input.robotcar)}" if input.robotcar else "",
    log:
        f"{LOG}/paper_tables.log",
    shell:
        "acmnet tables --config {CONFIG_FILE} --out {EXP}/tables --metrics {input.metrics} "
        "{params.robotcar} 2>&1 | tee {log}"


rule gradcam:
    input:
        manifest=f"{EXP}/{{dataset}}/manifest.csv",
        cache=f"{EXP}/{{dataset}}/cache/images.npy",
        retrieval=f"{EXP}/{{dataset}}/{{method}}/retrieval.npz",
        checkpoint=f"{EXP}/{{dataset}}/{{method}}/checkpoint.pt",
    output:
        png=report(f"{FIG}/gradcam_{{dataset}}_{{method}}.png", caption="../report/gradcam.rst", category="Figures"),
        pdf=f"{FIG}/gradcam_{{dataset}}_{{method}}.pdf",
    wildcard_constraints:
        method="|".join(TRAINED) or "^$",
    log:
        f"{LOG}/gradcam/{{dataset}}_{{method}}.log",
    shell:
        "acmnet gradcam --config {CONFIG_FILE} --dataset {wildcards.dataset} --method {wildcards.method} "
        "--manifest {input.manifest} --cache {input.cache} --retrieval {input.retrieval} "
        "--checkpoint {input.checkpoint} --out {output.png} {output.pdf} 2>&1 | tee {log}"
