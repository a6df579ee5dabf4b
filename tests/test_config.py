import pytest
import yaml

from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict, load_config

MINIMAL = {"datasets": {"d": {"type": "folder_pair", "root": "x", "reference": "a", "query": ["b"]}}}


def test_defaults_are_the_paper_settings():
    cfg = config_from_dict(MINIMAL)
    assert cfg.model.backbone == "resnet50.a1_in1k" and cfg.model.projector_dim == 1024
    assert cfg.train.tau == 0.01 and cfg.train.lr == 0.003 and cfg.train.batch_size == 64
    assert cfg.train.epochs == 1000 and cfg.train.rotation_weight == 1.0
    assert cfg.train.contrastive == "ntxent" and cfg.train.rotation_reduction == "mean"
    assert cfg.image_size == (224, 224)
    assert set(cfg.methods) == {"acmnet", "imagenet_avg"}


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"trian": {}}, r"unknown config key `trian` \(did you mean `train`\?\)"),
        ({"train": {"learning_rate": 0.1}}, r"unknown config key `train.learning_rate`"),
        ({"train": {"contrastive": "infonce"}}, r"train.contrastive must be one of ntxent, eq10"),
        ({"train": {"epochs": "ten"}}, r"train.epochs must be an integer"),
        ({"augment": {"solarize": {"p": 1.5}}}, r"augment.solarize.p must lie in \[0, 1\]"),
        ({"image_size": [224, 112]}, r"not square"),
        ({"methods": {"ablation": {"train": {"tua": 0.1}}}}, r"methods.ablation.train.tua.*did you mean `tau`"),
        ({"evaluate": {"recall_at": [1, 50]}}, r"recall_at"),
    ],
)
def test_bad_values_are_named(patch, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**MINIMAL, **patch})


def test_dataset_without_root_is_named():
    with pytest.raises(ConfigError, match=r"datasets.d.root is missing"):
        config_from_dict({"datasets": {"d": {"type": "folder_pair"}}})


def test_method_overrides_make_ablations():
    cfg = config_from_dict(
        {
            **MINIMAL,
            "methods": {"full": {}, "rot_only": {"descriptor": "encoder", "train": {"contrastive_weight": 0.0}}},
        }
    )
    assert cfg.train_for("rot_only").contrastive_weight == 0.0
    assert cfg.train_for("full").contrastive_weight == 1.0


def _spy_on_parsing(monkeypatch, calls: list) -> None:
    """Record (section class, place) of every `build_dataclass` call, in every module that imported it."""
    import sys

    import acmnet.config

    parse = acmnet.config.build_dataclass

    def spy(cls, data, where):
        calls.append((cls.__name__, where))
        return parse(cls, data, where)

    for module in list(sys.modules.values()):
        if getattr(module, "build_dataclass", None) is parse:
            monkeypatch.setattr(module, "build_dataclass", spy)


def test_a_config_is_parsed_in_one_pass_and_nothing_parses_after_load(monkeypatch):
    """Each section is parsed once while loading (no check re-parses a method's overrides), and the
    derived views (`train_for`, `model_for`, every step's settings) parse nothing."""
    from acmnet.config import STEP_SETTINGS

    calls: list = []
    _spy_on_parsing(monkeypatch, calls)
    cfg = load_config("config/config.yaml")
    twice = sorted({call for call in calls if calls.count(call) > 1})
    assert not twice, f"parsed more than once while loading: {twice}"
    assert ("TrainConfig", "methods.acmnet_rotation_sum.train") in calls  # overrides: parsed at load
    assert ("ModelConfig", "methods.acmnet.model") not in calls  # no overrides: nothing to parse
    calls.clear()
    for method in cfg.methods:
        cfg.train_for(method), cfg.model_for(method)
        for step in STEP_SETTINGS:
            cfg.settings_digest(step, next(iter(cfg.datasets)), method)
    assert calls == []


def test_a_methods_overrides_are_kept_as_typed_values_laid_over_the_top_level_sections():
    cfg = config_from_dict(
        {
            **MINIMAL,
            "train": {"epochs": 9},
            "methods": {"a": {"train": {"lr": "1e-2", "rotation_weight": 0}, "model": {"projector_dim": 64}}},
        }
    )
    assert cfg.methods["a"].options.train == {"lr": 0.01, "rotation_weight": 0.0}
    train, model = cfg.train_for("a"), cfg.model_for("a")
    assert (train.lr, train.rotation_weight, train.epochs) == (0.01, 0.0, 9)
    assert isinstance(train.rotation_weight, float) and (model.projector_dim, model.projector_hidden) == (64, 2048)
    with pytest.raises(ConfigError, match=r"methods.a.train: contrastive_weight and rotation_weight are both 0"):
        config_from_dict({**MINIMAL, "methods": {"a": {"train": {"contrastive_weight": 0, "rotation_weight": 0}}}})
    with pytest.raises(ConfigError, match=r"methods.a.model.projector_dim must be"):
        config_from_dict({**MINIMAL, "methods": {"a": {"model": {"projector_dim": 0}}}})


def test_later_files_override_earlier_ones(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump({**MINIMAL, "train": {"epochs": 5, "lr": 0.1}}))
    b.write_text(yaml.safe_dump({"train": {"epochs": 7}}))
    cfg = load_config([a, b])
    assert cfg.train.epochs == 7 and cfg.train.lr == 0.1
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_configs_are_valid():
    from tests.conftest import REPO

    for path in sorted((REPO / "config").glob("*.yaml")):
        load_config(path)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"train": {"epochs": 0}}, r"train.epochs must be at least 1, got 0"),
        ({"train": {"epochs": -3}}, r"train.epochs must be at least 1, got -3"),
        ({"train": {"batch_size": 1}}, r"train.batch_size must be at least 2 when contrastive_weight > 0"),
        ({"train": {"tau": 0}}, r"train.tau must be > 0, got 0"),
        ({"train": {"lr": -0.1}}, r"train.lr must be > 0"),
        ({"train": {"checkpoint_every": 0}}, r"train.checkpoint_every must be at least 1, got 0"),
        ({"train": {"contrastive_weight": 0, "rotation_weight": 0}}, r"nothing would be learnt"),
        ({"evaluate": {"top_k": 0}}, r"evaluate.top_k must be at least 1, got 0"),
        ({"evaluate": {"describe_shards": 0}}, r"evaluate.describe_shards must be at least 1, got 0"),
        ({"evaluate": {"cache_images_max": -1}}, r"evaluate.cache_images_max must be at least 0, got -1"),
        ({"evaluate": {"top_k": 5}}, r"recall_at \[1, 5, 10\] asks for N up to 10.*raise evaluate.top_k"),
        ({"evaluate": {"batch_size": 0}}, r"evaluate.batch_size must be at least 1, got 0"),
        ({"evaluate": {"recall_at": [0, 5]}}, r"evaluate.recall_at must be at least 1 \(every value\), got \[0, 5\]"),
        ({"evaluate": {"sequence_velocities": [1.0, -1.0]}}, r"sequence_velocities must be > 0"),
        ({"device": "gpu"}, r"device must be auto, cpu, cuda, cuda:N or mps; got 'gpu'"),
        ({"image_size": [0, 64]}, r"image_size must be at least 1"),
        ({"augment": {"plasma_brightness": {"roughness": [0.1, 1.7]}}}, r"roughness must lie in \[0, 1\]"),
        ({"methods": {"m": {"kind": "acmnet", "train": {"batch_size": 1}}}}, r"methods.m.train.batch_size must be at"),
        ({"methods": {"m": {"kind": "acmnet", "train": {"tau": 0.0}}}}, r"methods.m.train.tau must be > 0"),
        (
            {"methods": {"m": {"kind": "acmnet", "train": {"epochs": "5"}}}},
            r"methods.m.train.epochs must be an integer",
        ),
        ({"resources": {"train_gpu": -1}}, r"resources.train_gpu must be at least 0"),
        ({"experiment": "a b"}, r"experiment 'a b' names a folder"),
    ],
)
def test_values_that_cannot_work_are_refused_naming_key_value_and_range(patch, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**MINIMAL, **patch})


@pytest.mark.parametrize(
    "dataset, message",
    [
        ({"type": "nordland", "root": ".", "tolerance": -1}, r"datasets.d.tolerance must be at least 0, got -1"),
        ({"type": "nordland", "root": ".", "query_season": ["winter"]}, r"datasets.d.query_season.*`query_seasons`"),
        ({"type": "nordland", "root": ".", "query_seasons": ["autumn"]}, r"datasets.d.query_seasons: unknown season"),
        ({"type": "alderley", "root": ".", "night_folder": "FRAMESC"}, r"datasets.d.night_folder must be one of"),
        ({"type": "nordlnd", "root": "."}, r"unknown dataset type `nordlnd` \(did you mean `nordland`\?\)"),
        ({"type": "folder_pair", "root": ".", "reference": "a", "query": "a"}, r"datasets.d.*reference"),
    ],
)
def test_dataset_options_are_checked_when_the_config_is_loaded(dataset, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"datasets": {"d": dataset}})


def test_settings_each_step_reads_and_their_digests():
    cfg = config_from_dict({**MINIMAL, "methods": {"acmnet": {}}})
    changed = config_from_dict({**MINIMAL, "methods": {"acmnet": {}}, "train": {"log_every": 7}})
    assert changed.settings_digest("train", "d", "acmnet") == cfg.settings_digest("train", "d", "acmnet")
    tol = config_from_dict({"datasets": {"d": {**MINIMAL["datasets"]["d"], "tolerance": 5}}, "methods": {"acmnet": {}}})
    for step in ("prepare", "cache", "train", "describe", "retrieve"):  # a tolerance changes no upstream step
        assert tol.settings_digest(step, "d", "acmnet") == cfg.settings_digest(step, "d", "acmnet"), step
    # a tolerance changes the ground truth (the positives), and so the scores through that file
    assert tol.settings_digest("positives", "d", "acmnet") != cfg.settings_digest("positives", "d", "acmnet")
    assert tol.settings_digest("score", "d", "acmnet") == cfg.settings_digest("score", "d", "acmnet")
    lr = config_from_dict({**MINIMAL, "methods": {"acmnet": {"train": {"lr": 0.1}}}})
    assert lr.settings_digest("train", "d", "acmnet") != cfg.settings_digest("train", "d", "acmnet")
    assert lr.settings("train", "d", "acmnet")["method.options.train"]["lr"] == 0.1


def test_command_line_overrides():
    from acmnet.config import parse_overrides, typed_strings

    assert parse_overrides(["train.epochs=5", "evaluate.recall_at=[1, 5]", "device=cpu"]) == {
        "train": {"epochs": 5},
        "evaluate": {"recall_at": [1, 5]},
        "device": "cpu",
    }
    with pytest.raises(ConfigError, match="must be KEY=VALUE"):
        parse_overrides(["train.epochs"])
    # what Snakemake hands over for --config 'train={epochs: 5, channels_last: on, amp: off}'
    assert typed_strings({"train": {"epochs": "5", "channels_last": "on", "lr": "1e-4", "compile": "true"}}) == {
        "train": {"epochs": 5, "channels_last": "on", "lr": 1e-4, "compile": True}
    }


def test_a_number_in_exponent_notation_is_a_number():
    cfg = config_from_dict({**MINIMAL, "train": {"lr": "1e-4", "tau": "5e-2"}})  # as PyYAML reads `lr: 1e-4`
    assert cfg.train.lr == 1e-4 and cfg.train.tau == 0.05
    with pytest.raises(ConfigError, match="train.lr must be a number, got 'fast'"):
        config_from_dict({**MINIMAL, "train": {"lr": "fast"}})


# ---- refused before any work starts (issue 18) -----------------------------------------------


def test_a_key_written_twice_in_a_yaml_file_is_refused_naming_it_and_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "datasets:\n  d: {type: folder_pair, root: x, reference: a, query: [b]}\ntrain:\n  epochs: 5\n"
        "  lr: 0.1\n  epochs: 50\n"
    )
    with pytest.raises(ConfigError, match=r"c\.yaml: key `epochs` is written twice in one mapping, on lines 4 and 6"):
        load_config(path)
    anchors = tmp_path / "anchors.yaml"  # a `<<` merge that a key then overrides is no duplicate
    anchors.write_text(
        "base: &b {type: folder_pair, root: x, reference: a, query: [b]}\ndatasets:\n  d:\n    <<: *b\n    root: y\n"
    )
    from acmnet.config import read_yaml

    assert read_yaml(anchors)["datasets"]["d"]["root"] == "y"


def test_a_config_path_that_is_a_directory_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .* is a directory: give the path of a YAML file"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"evaluate": {"recall_at": [1, 5, 5, 10]}}, r"evaluate\.recall_at \[1, 5, 5, 10\] lists 5 twice"),
        ({"evaluate": {"sequence_lengths": [3, 3]}}, r"evaluate\.sequence_lengths \[3, 3\] lists 3 twice"),
        ({"seed": -1}, r"seed must lie in 0 <= seed < 2\*\*63.*got -1"),
        ({"seed": 2**63}, r"seed must lie in 0 <= seed < 2\*\*63"),
        ({"seeds": [0, -2]}, r"seeds\[1\] must lie in 0 <= seed < 2\*\*63.*got -2"),
        ({"methods": {"acmnet": 3}}, r"methods\.acmnet must be a mapping of settings.*got 3"),
        ({"methods": {"acmnet": ["kind", "acmnet"]}}, r"methods\.acmnet must be a mapping"),
        ({"experiment": "."}, r"experiment '\.' names a folder.*\[A-Za-z0-9\]\[A-Za-z0-9_\.-\]\*"),
        ({"experiment": ".."}, r"experiment '\.\.' names a folder"),
        ({"experiment": "../x"}, r"experiment '\.\./x' names a folder"),
        ({"methods": {"a b": {}}}, r"methods\.a b: the name 'a b' is not safe.*\[A-Za-z0-9\]\[A-Za-z0-9_\.-\]\*"),
        ({"methods": {"acmnet+seq5": {}}}, r"methods\.acmnet\+seq5: the name .* is not safe"),
        ({"methods": {"-x": {}}}, r"methods\.-x: the name '-x' is not safe"),
        ({"datasets": {"a/b": MINIMAL["datasets"]["d"]}}, r"datasets\.a/b: the name 'a/b' is not safe"),
        ({"datasets": {"$(rm)": MINIMAL["datasets"]["d"]}}, r"datasets\.\$\(rm\): the name .* is not safe"),
    ],
)
def test_values_that_would_give_a_wrong_table_are_refused_naming_the_key(patch, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**MINIMAL, **patch})


def test_safe_names_and_the_largest_seed_are_accepted():
    cfg = config_from_dict(
        {
            **MINIMAL,
            "experiment": "run-2.b_c",
            "seeds": [0, 2**63 - 1],
            "methods": {"acmnet.v2": {}, "imagenet_avg": {"kind": "pretrained"}},
        }
    )
    assert "acmnet.v2@s9223372036854775807" in cfg.methods and "imagenet_avg" in cfg.methods


@pytest.mark.parametrize(
    "options, message",
    [
        ({"places": 1}, r"datasets\.d\.places must be at least 2 .*got 1"),
        ({"render_size": [16, 48]}, r"datasets\.d\.render_size must be at least 32"),
        ({"place_step": 0}, r"datasets\.d\.place_step must be at least 1, got 0"),
    ],
)
def test_synthetic_options_that_synthesis_refuses_are_refused_on_load(options, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"datasets": {"d": {"type": "synthetic", "root": "x", **options}}})


def test_training_on_the_query_folder_is_refused_unless_stated_and_then_captioned():
    from acmnet.report.captions import choices

    pair = {"type": "folder_pair", "root": "x", "reference": "summer", "query": ["winter"], "train": "./winter"}
    with pytest.raises(
        ConfigError, match=r"datasets\.d\.train is the query folder `\./winter`.*train_on_queries: true"
    ):
        config_from_dict({"datasets": {"d": pair}})
    cfg = config_from_dict({"datasets": {"d": {**pair, "train_on_queries": True}}})
    assert any(c.startswith("d: ") and "training saw the query images" in c for c in choices(cfg))
    plain = config_from_dict(MINIMAL)
    assert not any("training saw the query images" in c for c in choices(plain))


@pytest.mark.parametrize("text", ["[1]", '"x"', "3", "null"])
def test_config_json_that_is_not_a_mapping_is_refused(text):
    from acmnet.config_loader import config_from_json

    with pytest.raises(ConfigError, match=r"--config-json must hold a JSON object"):
        config_from_json(text, {"train": {"epochs": 1}})


# ---- issue 26: refused before any work, in a message of bounded size ------------------------

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}' if prev else 'x'] * 9)}]\n"
    for prev, name in zip([None, *"abcdef"], "abcdefg")
)  # 9^7 = 4.8 million values from 7 lines


def test_a_yaml_alias_bomb_is_refused_in_a_short_message_wherever_yaml_is_read(tmp_path):
    from acmnet.config import parse_overrides, typed_strings

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "experiment: *g\ndatasets: {d: {type: folder_pair, root: x, reference: a, query: [b]}}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert len(message) < 400 and "bomb.yaml" in message and "expand to more than 100,000 values" in message
    inline = "{" + BOMB.strip().replace("\n", ", ") + "}"
    with pytest.raises(ConfigError, match=r"override experiment is refused: its aliases"):
        parse_overrides([f"experiment={inline}"])
    with pytest.raises(ConfigError, match=r"--config value is refused: its aliases"):
        typed_strings({"train": {"epochs": inline}})
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="an alias on line 1 refers to a value that holds it"):
        load_config(cycle)
    small = tmp_path / "small.yaml"  # aliases of ordinary size still work
    small.write_text("datasets: {d: &b {type: folder_pair, root: x, reference: a, query: [b]}, e: *b}\n")
    assert set(load_config(small).datasets) == {"d", "e"}


def test_a_huge_value_in_a_wrong_place_is_quoted_in_a_few_characters():
    big = [["x" * 1000] * 1000] * 1000  # shared rows, as an alias would give them
    for patch in ({"experiment": big}, {"train": {"contrastive": big}}, {"train": {"epochs": big}}):
        with pytest.raises(ConfigError) as refused:
            config_from_dict({**MINIMAL, **patch})
        assert len(str(refused.value)) < 1200, str(refused.value)[:200]


def test_snakemake_templating_is_refused_in_every_config_load(tmp_path):
    path = tmp_path / "yte.yaml"
    path.write_text("__use_yte__: true\ndatasets: {d: {type: folder_pair, root: x, reference: a, query: [b]}}\n")
    with pytest.raises(ConfigError, match=r"yte\.yaml sets `__use_yte__`, Snakemake's templating.*config file is code"):
        load_config(path)
    with pytest.raises(ConfigError, match="sets `__use_yte__`"):
        config_from_dict({**MINIMAL, "__use_yte__": True})


def test_a_config_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("experiment: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"config file .*latin1\.yaml is not UTF-8 text \(byte 15 is b'\\xe9'\)"):
        load_config(path)


def test_unquoted_on_off_read_as_booleans_by_yaml_are_accepted_or_said_to_need_quotes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "datasets: {d: {type: folder_pair, root: x, reference: a, query: [b]}}\n"
        "train: {channels_last: off, amp: off, encoder_bn: frozen}\n"
    )
    cfg = load_config(path)
    assert cfg.train.channels_last == "off" and cfg.train.amp == "off"
    assert config_from_dict({**MINIMAL, "train": {"channels_last": True}}).train.channels_last == "on"
    with pytest.raises(ConfigError, match=r"encoder_bn must be one of update, frozen; got False: .*quote the value"):
        config_from_dict({**MINIMAL, "train": {"encoder_bn": False}})


def test_a_training_stretch_overlapping_an_evaluated_one_is_said_up_front_and_in_the_caption(tmp_path, capsys):
    """Issue 26: nordland64 rows trained on `west` and evaluated on `east`: with overlapping `part`
    ranges, check-config and the workflow say so before any work, and the caption says those
    places of east were seen in training; the preset's disjoint stretches say nothing."""
    from pathlib import Path

    from acmnet.cli import main
    from acmnet.config_loader import seen_places_notes
    from acmnet.report.captions import settings_sentence

    preset = Path(__file__).parent.parent / "config" / "nordland64.yaml"
    assert seen_places_notes(load_config(preset)) == []
    assert main(["check-config", "--config", str(preset), "--set", "datasets.east.part=[0.5, 1.0]"]) == 0
    said = "datasets.east overlaps the training images of datasets.west: the stretch [0.5, 0.6667] of the kept frames"
    assert f"note: {said}" in capsys.readouterr().out
    overlapping = load_config(preset, {"datasets": {"east": {"part": [0.5, 1.0]}}})
    assert said in settings_sentence(overlapping) and "have seen those places of east" in settings_sentence(overlapping)
    elsewhere = load_config(preset, {"datasets": {"east": {"part": [0.5, 1.0], "root": "data/other_copy"}}})
    assert seen_places_notes(elsewhere) == []  # another root: another route, as far as the config can tell


def _pair(**evaluate):
    """A folder_pair dataset (recall-scored) and a manifest of 3 references and 2 `night` queries."""
    import pandas as pd

    raw = {"datasets": {"pair": {"type": "folder_pair", "root": "/unused", "reference": "day", "query": ["night"]}}}
    cfg = config_from_dict({**raw, "evaluate": {"top_k": 2, "recall_at": [1], **evaluate}})
    roles = ["reference"] * 3 + ["query"] * 2
    return cfg, pd.DataFrame({"role": roles, "condition": ["day"] * 3 + ["night"] * 2})


def test_evaluate_settings_must_fit_the_manifest_they_score():
    from acmnet.config_loader import check_fits_manifest

    cfg, frame = _pair(sequence_lengths=[2])
    check_fits_manifest(cfg, "pair", frame)
    cfg, _ = _pair(sequence_lengths=[3])
    with pytest.raises(ConfigError, match=r"sequences of 3 frames.*\(query set `night`: 2 images\): .*at most 2"):
        check_fits_manifest(cfg, "pair", frame)
    cfg, _ = _pair(top_k=4)
    with pytest.raises(ConfigError, match=r"evaluate.top_k = 4 .* datasets.pair has reference images \(3\)"):
        check_fits_manifest(cfg, "pair", frame)


# ---- issue 33 item 8: values that passed load and failed late or silently -------------------------


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"evaluate": {"bootstrap_resamples": 10**12}}, r"evaluate.bootstrap_resamples must lie in \[100, 1e\+06\]"),
        ({"evaluate": {"bootstrap_seed": -1}}, r"evaluate.bootstrap_seed must be at least 0, got -1"),
        (
            {"datasets": {"p": {"type": "utm", "root": ".", "positive_distance": float("inf")}}},
            r"datasets.p.positive_distance must be a finite number, got inf",
        ),
        ({"train": {"lr": "-.inf"}}, r"train.lr must be"),
        (
            {"methods": {"m": {"kind": "pretrained", "pool": "avg", "label": "x" * 300_000}}},
            r"the config is 300,\d{3} characters as JSON.*`methods.m.label` alone holds 300,002; shorten it",
        ),
    ],
)
def test_values_are_checked_at_load_naming_the_key(patch, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**MINIMAL, **patch})


def test_image_names_with_spaces_and_export_pairs_are_refused_at_prepare():
    import pandas as pd

    from acmnet.config_loader import check_fits_manifest

    cfg = config_from_dict(
        {
            **MINIMAL,
            "evaluate": {"export_pairs": 2, "top_k": 2, "recall_at": [1]},
            "datasets": {"d": {"type": "utm", "root": "."}},
        }
    )
    frame = pd.DataFrame(
        {
            "image": ["db/a.jpg", "db/b c.jpg", "q/x.jpg"],
            "role": ["reference", "reference", "query"],
            "place": [0, 1, 0],
        }
    )
    frame["condition"] = "c"
    with pytest.raises(ConfigError, match=r"evaluate.export_pairs = 2, but datasets.d has 1 image name.*'db/b c.jpg'"):
        check_fits_manifest(cfg, "d", frame)
