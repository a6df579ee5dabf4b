"""ACM-Net reproduction pipeline.

    snakemake --cores all                                   # the paper (config/config.yaml)
    snakemake --cores all --configfile config/demo.yaml     # offline demo, minutes on a CPU

Each rule calls one `acmnet` subcommand; files are the only hand-over between rules. Parsing this
file, a dry run and a run refused by the lock write nothing: every step receives the run's
configuration on its command line.
"""


include: "workflow/rules/common.smk"


report: "workflow/report/workflow.rst"


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


onsuccess:
    if os.path.exists(rules.report.output.markdown):
        print(f"\nResults ({rules.report.output.markdown}):\n\n" + open(rules.report.output.markdown).read())
    else:  # nothing scored (only msls_test): say why there is no report
        for line in unscored_lines(CFG):
            print(f"\n{line}")


rule all:
    default_target: True
    input:
        rules.report.output if SCORED else [],
        rules.paper_tables.output if SCORED else [],
        expand(rules.figure_retrievals.output.png, dataset=RECALL, method=FIGURED or METHODS[:1]),
        expand(rules.localize.output.submission, dataset=POSED, method=METHODS),
        expand(rules.export_msls.output.submission, dataset=SUBMITTED, method=METHODS),
        expand(rules.gradcam.output.png, dataset=RECALL, method=FIGURED),
        expand(rules.export_pairs.output.pairs, dataset=RECALL, method=DESCRIBED) if CFG.evaluate.export_pairs else [],
        rules.pr_curves.output if CFG.evaluate.pr and SCORED else [],
        rules.recall_vs_tolerance.output if CFG.evaluate.tolerance_curve and SCORED else [],
