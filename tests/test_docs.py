"""The documentation against the code: the README's code map, config/README.md's keys, the
evaluate-only preset, the links, and no pointer at files a clone does not have."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import re
import subprocess
import typing
from pathlib import Path

import numpy as np
import yaml

from acmnet import config as config_module
from acmnet.config_loader import config_from_dict, load_config
from acmnet.data.datasets import DATASET_TYPES
from acmnet.methods import METHOD_KINDS, trained_methods
from tests.conftest import REPO

README = REPO / "README.md"
CONFIG_README = REPO / "config" / "README.md"


def _section(text: str, heading: str) -> str:
    """The text under the Markdown `heading` (a whole line), up to the next heading of its level or above."""
    level = len(heading.split(" ")[0])
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(rf"\n#{{1,{level}}} ", text[start:])
    return text[start : start + following.start()] if following else text[start:]


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 180


# ---- the code map --------------------------------------------------------------------------


def _code_map() -> dict[str, str]:
    """The README's code map: package folder (`acmnet/data/`) -> the text that describes it."""
    block = re.search(r"```\n(.*?)```", _section(README.read_text(), "## Code map"), re.S).group(1)
    entries: dict[str, str] = {}
    folder = None
    for line in block.splitlines():
        head = re.match(r"(acmnet/(?:\S+/)?)\s", line + " ")
        if head:
            folder = head.group(1)
            entries[folder] = line[len(folder) :]
        elif folder is not None and line.startswith(" "):  # a continuation line of the current folder
            entries[folder] += " " + line.strip()
        else:
            folder = None
    return entries


def test_code_map_names_every_module():
    """Every module of acmnet/ is named under its own folder: whoever moves or adds one updates the map."""
    entries = _code_map()
    modules = sorted(p for p in (REPO / "acmnet").rglob("*.py") if p.name != "__init__.py")
    assert len(modules) > 40
    missing = []
    for path in modules:
        folder = str(path.parent.relative_to(REPO)) + "/"
        words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", entries.get(folder, ""))
        if path.stem not in words:
            missing.append(str(path.relative_to(REPO)))
    assert not missing, f"README.md's code map does not name {missing} under its folder"
    stale = [f for f in entries if not (REPO / f).is_dir()]
    assert not stale, f"README.md's code map names folders that do not exist: {stale}"


# ---- no pointer at ../shared ---------------------------------------------------------------


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [name for name in out.split("\0") if name]


def test_no_file_outside_tests_points_at_the_development_tree():
    """A clone has no ../shared/: what a user needs from there is written into docs/."""
    files = [f for f in _tracked_files() if not f.startswith("tests/") and (REPO / f).is_file()]
    assert "README.md" in files and "docs/datasets.md" in files
    pointing = []
    for name in files:
        try:
            text = (REPO / name).read_text()
        except UnicodeDecodeError:
            continue
        pointing += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if re.search(r"\bshared/", line)]
    assert not pointing, f"these lines point at the development tree's shared/ folder: {pointing}"


# Names a text may give that are not files of the repository, each with why: what a run writes, what a
# dataset's download holds, what a how-to asks the reader to create.
NOT_IN_THE_REPOSITORY = {
    "summary.md": "written by every run (results/<experiment>/summary.md)",
    "reproduction.md": "written by every run's report (results/<experiment>/reproduction.md)",
    "README_RobotCar_v2.md": "in RobotCar Seasons v2's download",
    "acmnet/data/datasets/csv_positions.py": "the dataset type docs/extending.md shows how to write",
    "acmnet/methods/histogram.py": "the method kind docs/extending.md shows how to write",
    "config/my_large.yaml": "the reader's own config in docs/performance.md",
}
_DOCUMENT = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b")
_REPO_PATH = re.compile(
    r"\b(?:acmnet|bench|studies|tests|workflow|config|docs|baselines|figures|results)/[A-Za-z0-9_./-]+"
    r"\.(?:py|md|yaml|smk|rst|csv|sh|txt)\b"
)


@functools.cache
def _run_folders() -> tuple[str, ...]:
    """`results/<experiment>/` of every shipped preset: what its run writes."""
    return tuple(f"results/{load_config(p).experiment}/" for p in sorted((REPO / "config").glob("*.yaml")))


def _pointers_elsewhere(name: str, text: str, tracked: set[str]) -> list[str]:
    """The file names in `text` (of tracked file `name`) that are no file of the repository and not a
    name of NOT_IN_THE_REPOSITORY or a run's output (`results/<experiment of a preset>/`): a `.md` by its
    path (from the root or from `name`'s folder) or name, and any path under one of the repository's folders."""
    names = {Path(t).name for t in tracked}
    folder = Path(name).parent
    runs = _run_folders()
    out = []
    for target in set(_DOCUMENT.findall(text)) | set(_REPO_PATH.findall(text)):
        if target in NOT_IN_THE_REPOSITORY or target.startswith(("results/<", "/", *runs)):  # runs write these
            continue
        relative = (REPO / folder / target).resolve()
        known = target.lstrip("./") in tracked or relative.is_file() or ("/" not in target and target in names)
        if not known:
            out.append(f"{name}: {target}")
    return out


def test_no_code_caption_or_doc_points_at_a_file_the_repository_does_not_ship():
    """Issue 32 item 8: no reference to SPEC.md (or any file a clone lacks) in code, captions or docs."""
    from acmnet.report.captions import choices

    tracked = set(_tracked_files())
    scanned = [f for f in tracked if not f.startswith("tests/")]  # tests name missing files on purpose
    texts = {f: (REPO / f).read_text() for f in scanned if _is_text(REPO / f)}
    texts["caption of config/config.yaml"] = "; ".join(choices(load_config(REPO / "config" / "config.yaml")))
    missing = [m for name, text in texts.items() for m in _pointers_elsewhere(name, text, tracked)]
    assert not missing, f"these point at files the repository does not ship: {missing}"
    assert _pointers_elsewhere("acmnet/x.py", "defaults in SPEC.md", tracked) == ["acmnet/x.py: SPEC.md"]


def _is_text(path: Path) -> bool:
    try:
        path.read_text()
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return False
    return True


def test_relative_links_of_the_manual_resolve():
    pages = [README, CONFIG_README, REPO / "results" / "nordland64" / "README.md", *(REPO / "docs").glob("*.md")]
    assert len(pages) >= 10
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+://", target) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, broken
    unlinked = [p.name for p in (REPO / "docs").glob("*.md") if f"(docs/{p.name})" not in README.read_text()]
    assert not unlinked, f"README.md links no page {unlinked} of docs/"


# ---- config/README.md against acmnet/config.py -----------------------------------------------


def _documented(text: str) -> dict[str, str]:
    """The key tables of a part of config/README.md: key -> the default written beside it."""
    return dict(re.findall(r"^\| `([\w.]+)` \| `([^`]*)` \|", text, re.M))


def _leaves(instance: object, prefix: str = "") -> dict[str, str]:
    """Every key of a config dataclass instance with the repr of its default; sections recursed."""
    keys = {}
    for spec in dataclasses.fields(instance):
        value = getattr(instance, spec.name)
        if dataclasses.is_dataclass(value):
            keys |= _leaves(value, f"{prefix}{spec.name}.")
        else:
            keys[prefix + spec.name] = repr(value)
    return keys


def _options_instance(cls: type) -> object:
    """An options dataclass with its defaults (a required field, if any, set to "")."""
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if dataclasses.MISSING is f.default and dataclasses.MISSING is f.default_factory
    ]
    return cls(**dict.fromkeys(required, ""))


def test_config_readme_documents_every_key_with_its_default():
    text = CONFIG_README.read_text()
    top = _leaves(config_module.Config())
    assert {"train.epochs", "augment.grayscale.p", "evaluate.tolerance_curve", "resources.describe_runtime"} <= set(top)
    everything_above_kinds = text[: text.index("\n## Method kinds")]
    assert _documented(everything_above_kinds) == top  # every key, its default, and no stale key
    hints = typing.get_type_hints(config_module.Config)
    assert {name for name, hint in hints.items() if dataclasses.is_dataclass(hint)} <= {
        k.split(".")[0] for k in top
    }  # every section is reached
    for registry, attribute, word in ((METHOD_KINDS, "METHOD", "kind"), (DATASET_TYPES, "DATASET", "type")):
        for name, module in registry.items():
            options = getattr(importlib.import_module(module), attribute).options
            section = _section(text, f"### `{word}: {name}`")
            assert _documented(section) == _leaves(_options_instance(options)), f"{word}: {name}"
    for common in ("`type`", "`root`", "`tolerance`", "`kind`"):
        assert common in text


def test_config_readme_lists_every_preset():
    presets = sorted(p.name for p in (REPO / "config").glob("*.yaml"))
    table = _section(CONFIG_README.read_text(), "## The presets")
    assert [name for name in presets if f"`{name}`" not in table] == []


# ---- the evaluate-only preset and the README's own-data example ----------------------------


def test_evaluate_only_preset_trains_nothing():
    cfg = load_config(REPO / "config" / "evaluate_only.yaml")
    assert trained_methods(cfg) == []
    assert {cfg.methods[m].kind for m in cfg.methods} >= {"pretrained", "external"}
    assert {d.type for d in cfg.datasets.values()} == {"utm"}


def test_evaluate_only_dry_run_has_no_train_or_cache_job(tmp_path):
    from tests.test_workflow import _snakemake

    cfg = yaml.safe_load((REPO / "config" / "evaluate_only.yaml").read_text())
    for path in cfg["methods"]["salad"]["descriptors"].values():  # the external row's files, as the tool writes them
        (tmp_path / path).mkdir(parents=True)
        np.save(tmp_path / path / "database_descriptors.npy", np.zeros((2, 4), np.float32))
        np.save(tmp_path / path / "queries_descriptors.npy", np.zeros((1, 4), np.float32))
    out = _snakemake(["-n", "--cores", "1", "--configfile", str(REPO / "config" / "evaluate_only.yaml")], cwd=tmp_path)
    plan = out.stdout
    for rule in ("prepare", "describe", "retrieve", "score", "report"):
        assert f"rule {rule}:" in plan or f"\n{rule} " in plan, rule
    for rule in ("train", "cache"):
        assert f"rule {rule}:" not in plan and f"\n{rule} " not in plan, f"{rule} planned in an evaluate-only run"
    assert not (tmp_path / "results").exists()


def test_readme_own_data_example_is_an_evaluate_only_config():
    section = _section(README.read_text(), "## Evaluate on your own data")
    raw = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    cfg = config_from_dict(raw)
    assert trained_methods(cfg) == []
    assert {m.kind for m in cfg.methods.values()} == {"pretrained", "external"}
    assert Path("config/evaluate_only.yaml").name in section


# ---- committed results ---------------------------------------------------------------------


def _summary_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """{(dataset, method): {column: cell}} of the R@N table of a committed `summary.md`."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != len(header) or cells[0] == header[0]:
            break  # the next table
        row = dict(zip(header, cells, strict=True))
        rows[(row["dataset"], row["method"])] = row
    return rows


def test_nordland64_readme_table_is_read_from_the_committed_summary():
    """Every cell of results/nordland64/README.md's R@1 table (value, interval, sd over seeds, p at two
    digits) equals the committed summary.md's cell for that row, so the README claims no number the
    run's own files do not hold."""
    folder = REPO / "results" / "nordland64"
    summary, readme = _summary_rows(folder / "summary.md"), (folder / "README.md").read_text()
    table = re.findall(r"^\| [^|]*\(`([\w.]+)`\)[^|]* \| (.+) \| (.+) \|$", readme, re.M)
    sequence = re.search(r"^\| `(\w+)` \+ sequence matching[^|]*\| (.+) \| (.+) \|$", readme, re.M)
    rows = [*table, (sequence.group(1) + "+seq5", sequence.group(2), sequence.group(3))]
    assert len(rows) == 6
    cell = re.compile(r"\**([\d.]+)\** (\[[\d., ]+\])(?: sd ([\d.]+))?(?: \(p = ([\d.]+)\))?")
    for method, *cells in rows:
        for dataset, text in zip(("west", "east"), cells, strict=True):
            value, interval, sd, p = cell.fullmatch(text.strip()).groups()
            stored = summary[(dataset, method)]["R@1 [interval] (vs best)"]
            assert stored.startswith(f"{value} {interval}" + (f" sd {sd}" if sd else "")), (dataset, method)
            if p is not None:
                stored_p = float(re.search(r"p = ([\d.]+)", stored).group(1))
                assert f"{stored_p:.2f}" == p, (dataset, method)
