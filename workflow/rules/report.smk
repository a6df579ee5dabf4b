# The results table (CSV + LaTeX), the paper's tables, figures and the resolved config of the run.


rule report:
    input:
        metrics=expand(rules.score.output.metrics, dataset=RECALL, method=METHODS),
        curves=expand(rules.score.output.curve, dataset=RECALL, method=METHODS),
        ranks=expand(rules.score.output.ranks, dataset=RECALL, method=METHODS),
        published=[workflow.source_path("../../baselines/published.yaml"), *CFG.report.published],
        invariance=expand(rules.check_invariance.output.table, dataset=RECALL, method=INVARIANCE),
        train_logs=TRAIN_LOGS,
    output:
        metrics=report(f"{EXP}/metrics.csv", caption="../report/metrics.rst", category="Results"),
        reproduction=f"{EXP}/reproduction.md",
        reproduction_csv=report(f"{EXP}/reproduction.csv", caption="../report/reproduction.rst", category="Results"),
        summary=report(f"{EXP}/summary.csv", caption="../report/summary.rst", category="Results"),
        markdown=f"{EXP}/summary.md",
        table=report(f"{EXP}/tables/recall.tex", caption="../report/tables.rst", category="Tables"),
        figures=[
            report(f"{FIG}/recall_curves.png", caption="../report/recall_curves.rst", category="Figures"),
            f"{FIG}/recall_curves.pdf",
        ],
        seeds=[
            report(f"{FIG}/seeds.png", caption="../report/seeds.rst", category="Figures"),
            f"{FIG}/seeds.pdf",
        ],
        config=f"{EXP}/config.yaml",
    log:
        f"{LOG}/report.log",
    params:
        settings=settings("report"),
        invariance=lambda w, input: flag("--invariance", input.invariance),
    shell:
        "acmnet report --config-json {CONFIG_ARG} --metrics {input.metrics:q} --curves {input.curves:q} "
        "--ranks {input.ranks:q} --out-metrics {output.metrics:q} --out-summary {output.summary:q} "
        "--out-markdown {output.markdown:q} --out-table {output.table:q} --figures {output.figures:q} "
        "--seed-figures {output.seeds:q} --out-config {output.config:q} --out-reproduction {output.reproduction:q} "
        "--out-reproduction-csv {output.reproduction_csv:q} --train-logs {input.train_logs:q} {params.invariance:q} 2>&1 | tee {log:q}"


rule paper_tables:
    input:
        metrics=rules.report.output.summary,
        robotcar=expand(rules.localize.output.accuracy, dataset=POSED, method=METHODS),
    output:
        [report(f"{EXP}/tables/table{n}.tex", caption="../report/tables.rst", category="Tables") for n in (2, 3, 4)],
    log:
        f"{LOG}/paper_tables.log",
    params:
        out_dir=f"{EXP}/tables",
        settings=settings("report"),
        robotcar=lambda w, input: flag("--robotcar-scores", input.robotcar),
    shell:
        "acmnet tables --config-json {CONFIG_ARG} --out {params.out_dir:q} --metrics {input.metrics:q} "
        "{params.robotcar:q} 2>&1 | tee {log:q}"


rule figure_retrievals:
    input:
        manifest=rules.prepare.output.manifest,
        cache=dataset_cache,
        retrieval=rules.retrieve.output.retrieval,
        positives=rules.positives.output.positives,
    output:
        png=report(
            f"{FIG}/retrievals/{{dataset}}/{{method}}.png", caption="../report/retrievals.rst", category="Figures"
        ),
        pdf=f"{FIG}/retrievals/{{dataset}}/{{method}}.pdf",
    log:
        f"{LOG}/figure_retrievals/{{dataset}}/{{method}}.log",
    params:
        settings=settings("figure"),
        cache=lambda w, input: flag("--cache", input.cache),
    shell:
        "acmnet figure-retrievals --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --method {wildcards.method:q} "
        "--manifest {input.manifest:q} "
        "{params.cache:q} --retrieval {input.retrieval:q} --positives {input.positives:q} "
        "--out {output.png:q} {output.pdf:q} 2>&1 | tee {log:q}"


rule gradcam:
    input:
        manifest=rules.prepare.output.manifest,
        cache=dataset_cache,
        retrieval=rules.retrieve.output.retrieval,
        positives=rules.positives.output.positives,
        checkpoint=checkpoint_of,
    output:
        png=report(f"{FIG}/gradcam/{{dataset}}/{{method}}.png", caption="../report/gradcam.rst", category="Figures"),
        pdf=f"{FIG}/gradcam/{{dataset}}/{{method}}.pdf",
    log:
        f"{LOG}/gradcam/{{dataset}}/{{method}}.log",
    wildcard_constraints:
        method="|".join(TRAINED) or "^$",
    params:
        settings=settings("gradcam"),
        cache=lambda w, input: flag("--cache", input.cache),
    shell:
        "acmnet gradcam --config-json {CONFIG_ARG} --dataset {wildcards.dataset:q} --method {wildcards.method:q} "
        "--manifest {input.manifest:q} {params.cache:q} --retrieval {input.retrieval:q} "
        "--positives {input.positives:q} --checkpoint {input.checkpoint:q} --out {output.png:q} {output.pdf:q} 2>&1 | tee {log:q}"


rule pr_curves:
    input:
        ranks=expand(rules.score.output.ranks, dataset=RECALL, method=METHODS),
    output:
        png=report(f"{FIG}/pr_curves.png", caption="../report/pr_curves.rst", category="Figures"),
        pdf=f"{FIG}/pr_curves.pdf",
    log:
        f"{LOG}/pr_curves.log",
    params:
        settings=settings("figure"),
    shell:
        "acmnet pr-curves --config-json {CONFIG_ARG} --ranks {input.ranks:q} --out {output.png:q} {output.pdf:q} 2>&1 | tee {log:q}"


# Datasets whose ground truth has a tolerance to vary (a place window or a distance; not a shipped list).
TOLERANT = [d for d in RECALL if dataset_type(CFG.datasets[d].type).ground_truth != "listed"]


rule recall_vs_tolerance:
    input:
        manifests=expand(rules.prepare.output.manifest, dataset=TOLERANT),
        retrievals=expand(rules.retrieve.output.retrieval, dataset=TOLERANT, method=METHODS),
    output:
        table=report(f"{EXP}/recall_vs_tolerance.csv", caption="../report/recall_vs_tolerance.rst", category="Results"),
        png=report(f"{FIG}/recall_vs_tolerance.png", caption="../report/recall_vs_tolerance.rst", category="Figures"),
        pdf=f"{FIG}/recall_vs_tolerance.pdf",
    log:
        f"{LOG}/recall_vs_tolerance.log",
    params:
        datasets=TOLERANT,
        settings=settings("tolerance"),
    shell:
        "acmnet tolerance-curve --config-json {CONFIG_ARG} --datasets {params.datasets:q} --manifests {input.manifests:q} "
        "--retrievals {input.retrievals:q} --out {output.table:q} --figures {output.png:q} {output.pdf:q} 2>&1 | tee {log:q}"
