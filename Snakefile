"""ACM-Net reproduction pipeline.

    snakemake --cores all                                   # the paper (config/config.yaml)
    snakemake --cores all --configfile config/demo.yaml     # offline demo, minutes on a CPU

Each rule calls one `acmnet` subcommand; files are the only hand-over between rules.
"""

import yaml
from snakemake.exceptions import WorkflowError

from acmnet.config import ConfigError, config_from_dict, merge, resolved_dict

# A --configfile replaces the paper preset instead of being merged into it; --config key=value
# still overrides single values of whichever file is used.
if not workflow.overwrite_configfiles:
    with open(workflow.source_path("config/config.yaml")) as fh:
        config = merge(yaml.safe_load(fh), config)
try:
    CFG = config_from_dict(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")

EXP = str(CFG.experiment_dir)
FIG = f"{CFG.figures_dir}/{CFG.experiment}"
LOG = f"logs/{CFG.experiment}"
DATASETS = list(CFG.datasets)
# RobotCar is scored by pose (submission file, local pose accuracy), the others by recall@N.
POSED = [d for d in DATASETS if CFG.datasets[d].type == "robotcar"]
RECALL = [d for d in DATASETS if d not in POSED]
METHODS = list(CFG.methods)
TRAINED = [m for m in METHODS if CFG.methods[m].kind == "acmnet"]

# The resolved config (every default filled in) is what each step reads; rewritten only when it
# changes, so its timestamp does not trigger reruns. Per-rule params carry the relevant digests.
CONFIG_FILE = f"{EXP}/config.yaml"
_resolved = yaml.safe_dump(resolved_dict(CFG), sort_keys=False)
if not os.path.exists(CONFIG_FILE) or open(CONFIG_FILE).read() != _resolved:
    os.makedirs(EXP, exist_ok=True)
    with open(CONFIG_FILE, "w") as fh:
        fh.write(_resolved)


report: "workflow/report/workflow.rst"


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.report.output,
        rules.paper_tables.output,
        expand(f"{FIG}/retrievals_{{dataset}}_{{method}}.png", dataset=RECALL, method=TRAINED or METHODS[:1]),
        expand(f"{EXP}/{{dataset}}/{{method}}/submission.txt", dataset=POSED, method=METHODS),
        expand(f"{FIG}/gradcam_{{dataset}}_{{method}}.png", dataset=RECALL, method=TRAINED),
    default_target: True
