# The results table (CSV + LaTeX), the paper's tables, figures and the resolved config of the run.


rule report:
    input:
        metrics=expand(rules.score.output.metrics, dataset=RECALL, method=METHODS),
        curves=expand(rules.score.output.curve, dataset=RECALL, method=METHODS),
        ranks=expand(rules.score.output.ranks, dataset=RECALL, method=METHODS),
    output:
        metrics=report(f"{EXP}/metrics.csv", caption="../report/metrics.rst", category="Results"),
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
    shell:
        "acmnet report --config-json {CONFIG_ARG} --metrics {input.metrics} --curves {input.curves} "
        "--ranks {input.ranks} --out-metrics {output.metrics} --out-summary {output.summary} "
        "--out-markdown {output.markdown} --out-table {output.table} --figures {output.figures} "
        "--seed-figures {output.seeds} --out-config {output.config} 2>&1 | tee {log}"


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
        robotcar=lambda w, input: f"--robotcar-scores {' '.join(input.robotcar)}" if input.robotcar else "",
    shell:
        "acmnet tables --config-json {CONFIG_ARG} --out {params.out_dir} --metrics {input.metrics} "
        "{params.robotcar} 2>&1 | tee {log}"


rule figure_retrievals:
    input:
        manifest=rules.prepare.output.manifest,
        cache=dataset_cache,
        retrieval=rules.retrieve.output.retrieval,
        positives=rules.positives.output.positives,
    output:
        png=report(
            f"{FIG}/retrievals_{{dataset}}_{{method}}.png", caption="../report/retrievals.rst", category="Figures"
        ),
        pdf=f"{FIG}/retrievals_{{dataset}}_{{method}}.pdf",
    log:
        f"{LOG}/figure_retrievals/{{dataset}}_{{method}}.log",
    params:
        settings=settings("figure"),
        cache=lambda w, input: f"--cache {input.cache}" if input.cache else "",
    shell:
        "acmnet figure-retrievals --config-json {CONFIG_ARG} --dataset {wildcards.dataset} --method {wildcards.method} "
        "--manifest {input.manifest} "
        "{params.cache} --retrieval {input.retrieval} --positives {input.positives} "
        "--out {output.png} {output.pdf} 2>&1 | tee {log}"


rule gradcam:
    input:
        manifest=rules.prepare.output.manifest,
        cache=dataset_cache,
        retrieval=rules.retrieve.output.retrieval,
        positives=rules.positives.output.positives,
        checkpoint=checkpoint_of,
    output:
        png=report(f"{FIG}/gradcam_{{dataset}}_{{method}}.png", caption="../report/gradcam.rst", category="Figures"),
        pdf=f"{FIG}/gradcam_{{dataset}}_{{method}}.pdf",
    log:
        f"{LOG}/gradcam/{{dataset}}_{{method}}.log",
    wildcard_constraints:
        method="|".join(TRAINED) or "^$",
    params:
        settings=settings("gradcam"),
        cache=lambda w, input: f"--cache {input.cache}" if input.cache else "",
    shell:
        "acmnet gradcam --config-json {CONFIG_ARG} --dataset {wildcards.dataset} --method {wildcards.method} "
        "--manifest {input.manifest} {params.cache} --retrieval {input.retrieval} "
        "--positives {input.positives} --checkpoint {input.checkpoint} --out {output.png} {output.pdf} 2>&1 | tee {log}"


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
        "acmnet pr-curves --config-json {CONFIG_ARG} --ranks {input.ranks} --out {output.png} {output.pdf} 2>&1 | tee {log}"


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
        datasets=" ".join(TOLERANT),
        settings=settings("tolerance"),
    shell:
        "acmnet tolerance-curve --config-json {CONFIG_ARG} --datasets {params.datasets} --manifests {input.manifests} "
        "--retrievals {input.retrievals} --out {output.table} --figures {output.png} {output.pdf} 2>&1 | tee {log}"
