"""Weights and metadata are checked when loaded (issue 18, items 7 and 8).

Damaged weights (NaN, Inf), configs beyond any sane size, prior label tables and state-file
metadata of the wrong type, and project.json numbers that do not fit float32 each give exit 2
and one line naming the file and what is wrong: never a traceback, an allocation of terabytes,
or a silently wrong output. Each case failed (exit 0 or 1) on the code before the fix.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tiny import train_tiny, write_input

from vqstudio.cli import main
from vqstudio.errors import CheckpointError, ProjectError
from vqstudio.models.tokenizer import PRESETS, Tokenizer, TokenizerConfig, preset_config
from vqstudio.priors import store
from vqstudio.priors.autoregressive import AutoregressiveConfig
from vqstudio.priors.config import preset
from vqstudio.priors.diffusion import DiffusionConfig
from vqstudio.project.checkpoint import check_weight_count
from vqstudio.project.schema import validate_meta

# ------------------------------------------------------------------------- a tiny trained project


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> str:
    """A small trained project (tokenizer, diffusion prior, state) to copy and damage."""
    before = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("loaded")
    train_tiny([write_input(folder, "source")], folder / "project")
    yield str(folder / "project")
    torch.set_num_threads(before)


@pytest.fixture
def project(made, tmp_path) -> str:
    """A fresh copy of the trained project, free to damage."""
    copy = str(tmp_path / "p")
    shutil.copytree(made, copy)
    return copy


def _damage(path: str, tensors=None, meta=None) -> None:
    """Rewrites a safetensors file with `tensors(dict)` and `meta(dict)` applied in place."""
    data = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = dict(f.metadata())
    if tensors is not None:
        tensors(data)
    if meta is not None:
        meta(metadata)
    save_file(data, path, metadata=metadata)


def _json_field(key: str, change):
    """A metadata change: parse the JSON of `key`, apply `change`, write it back."""

    def apply(metadata: dict) -> None:
        value = json.loads(metadata[key])
        value = change(value) or value
        metadata[key] = json.dumps(value)

    return apply


def _refused(capsys, argv) -> str:
    """Runs the command; asserts exit 2, one line starting with 'vqstudio:', no traceback."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vqstudio:"), err
    return last


def _generate(project: str, tmp_path) -> list[str]:
    # The latest weights, the files these tests damage (generate samples with the best by default;
    # both are loaded by the same checks).
    return [
        "generate",
        project,
        "--seconds",
        "2",
        "--seed",
        "1",
        "--weights",
        "latest",
        "--out",
        str(tmp_path / "g.edf"),
    ]


def _resume(project: str) -> list[str]:
    return ["train", "--project", project, "--resume", "--tokenizer-steps", "5", "--prior-steps", "3"]


def _first_float(path: str, prefix: str = "") -> str:
    return next(
        k for k, v in sorted(load_file(path).items()) if k.startswith(prefix) and v.is_floating_point()
    )


# ------------------------------------------------------------------------- 1: finite weights


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_prior_weights_are_refused(project, tmp_path, capsys, value):
    path = os.path.join(project, "prior.safetensors")
    name = _first_float(path, "blocks.")
    _damage(path, tensors=lambda t: t[name].view(-1).__setitem__(0, value))
    last = _refused(capsys, _generate(project, tmp_path))
    assert f"prior.safetensors holds NaN or infinite values (in '{name}')" in last
    assert not os.path.exists(tmp_path / "g.edf")


def test_non_finite_tokenizer_weights_are_refused(project, tmp_path, capsys):
    path = os.path.join(project, "tokenizer.safetensors")
    name = _first_float(path, "decoder.")
    _damage(path, tensors=lambda t: t[name].fill_(float("nan")))
    last = _refused(capsys, _generate(project, tmp_path))
    assert f"tokenizer.safetensors holds NaN or infinite values (in '{name}')" in last


def test_non_finite_state_weights_are_refused_on_resume(project, capsys):
    path = os.path.join(project, "state.safetensors")
    name = _first_float(path, "tokenizer.model.encoder.")
    _damage(path, tensors=lambda t: t[name].view(-1).__setitem__(0, float("inf")))
    last = _refused(capsys, _resume(project))
    assert f"state.safetensors holds NaN or infinite values (in '{name}')" in last


# ------------------------------------------------------------------------- 2: configs within limits


@pytest.mark.parametrize(
    "field, value",
    [("codebook_size", 2**36), ("hidden", 2**40), ("latent_dim", 2**31), ("res_units", 10**7)],
)
def test_an_absurd_tokenizer_config_is_one_line(project, tmp_path, capsys, field, value):
    path = os.path.join(project, "tokenizer.safetensors")
    _damage(path, meta=_json_field("config", lambda c: c.update({field: value})))
    last = _refused(capsys, _generate(project, tmp_path))
    assert "tokenizer.safetensors" in last and field in last


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c.update(width=2**20, heads=1), "width"),
        (lambda c: c.update(depth=10**6), "depth"),
        (lambda c: c.update(latent_dim=2**40), "latent_dim"),
        (lambda c: [1, 2], "'config' is not a JSON object"),
    ],
)
def test_an_absurd_prior_config_is_one_line(project, tmp_path, capsys, change, words):
    path = os.path.join(project, "prior.safetensors")
    _damage(path, meta=_json_field("config", change))
    last = _refused(capsys, _generate(project, tmp_path))
    assert "prior.safetensors" in last and words in last


def test_a_prior_config_larger_than_its_file_is_refused_before_it_is_built(project, monkeypatch):
    """Within the limits, but describing more weights than the file holds: refused unbuilt."""
    path = os.path.join(project, "prior.safetensors")
    _damage(path, meta=_json_field("config", lambda c: c.update(width=1024, heads=8)))

    def never(config):
        raise AssertionError("the prior was built before its size was checked")

    monkeypatch.setattr(store, "build_prior", never)
    with pytest.raises(CheckpointError, match=r"prior.safetensors holds [\d,]+ weights where its config"):
        store.load_prior(path)


@pytest.mark.parametrize(
    "field, value",
    [
        ("channels", 10**9),
        ("window", 2**40),
        ("hidden", 10**6),
        ("codebook_size", 2**36),
        ("n_quantizers", 10**5),
        ("kernel", 10**6 + 1),
        ("stft_ffts", [2**30]),
    ],
)
def test_tokenizer_config_limits_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TokenizerConfig(**{"channels": 2, "window": 128, field: value})


def test_a_tokenizer_config_too_large_in_all_is_refused():
    """Each setting within its limit, but together billions of weights."""
    with pytest.raises(ValueError, match="weights"):
        TokenizerConfig(channels=2, window=1024, hidden=4096, max_width=4096, res_units=16, kernel=31)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_tokenizer_weight_count_is_that_of_the_module(name):
    for extra in ({}, {"n_quantizers": 3, "upsample": "transposed"}):
        cfg = preset_config(name, channels=3, window=256, **extra)
        model = Tokenizer(cfg, with_critic=False)
        assert cfg.weight_count() == sum(v.numel() for v in model.state_dict().values())


def test_tokenizer_weight_count_with_its_critic():
    cfg = preset_config("small", channels=3, window=256, critic_weight=1.0, feature_weight=2.0)
    model = Tokenizer(cfg)
    assert cfg.weight_count(with_critic=True) == sum(v.numel() for v in model.state_dict().values())


def test_a_tokenizer_config_larger_than_its_file_is_named(project):
    """What `Project.load_tokenizer` can ask before building (each setting within its limit)."""
    path = os.path.join(project, "tokenizer.safetensors")
    with safe_open(path, "pt") as f:
        config = json.loads(f.metadata()["config"])
    check_weight_count(path, TokenizerConfig(**config).weight_count())  # the file's own: it fits
    bigger = TokenizerConfig(**{**config, "codebook_size": 2**20})
    with pytest.raises(CheckpointError, match=r"tokenizer.safetensors holds [\d,]+ weights where"):
        check_weight_count(path, bigger.weight_count())


@pytest.mark.parametrize(
    "config",
    [
        DiffusionConfig(latent_dim=16, seg_len=32, n_labels=3, patch=2, **preset("small", "diffusion")),
        DiffusionConfig(latent_dim=8, seg_len=9, patch=1, **preset("tiny")),
        DiffusionConfig(latent_dim=12, seg_len=16, patch=2, channels=3, **preset("tiny")),
        AutoregressiveConfig(codebook_size=64, n_quantizers=2, context=16, n_labels=2, **preset("small")),
        AutoregressiveConfig(codebook_size=32, n_quantizers=1, context=8, **preset("tiny")),
    ],
)
def test_prior_weight_count_is_that_of_the_module(config):
    model = store.build_prior(config)
    assert config.weight_count() == sum(v.numel() for v in model.state_dict().values())


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: DiffusionConfig(latent_dim=2**20, seg_len=32), "latent_dim"),
        (lambda: DiffusionConfig(latent_dim=8, seg_len=2**40), "seg_len"),
        (lambda: DiffusionConfig(latent_dim=8, seg_len=32, mlp_ratio=1e9), "mlp_ratio"),
        (lambda: DiffusionConfig(latent_dim=8, seg_len=32, n_labels=10**9), "n_labels"),
        (lambda: AutoregressiveConfig(codebook_size=2**36, n_quantizers=1, context=8), "codebook_size"),
        (lambda: AutoregressiveConfig(codebook_size=8, n_quantizers=1, context=8, heads=0), "heads"),
    ],
)
def test_prior_config_limits_name_the_field(build, field):
    with pytest.raises(ValueError, match=field):
        build()


# ------------------------------------------------------------------------- 3: prior label table


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda e: e.update(label_counts=["x"]), "label_counts"),
        (lambda e: e.update(label_counts=[-3]), "label_counts"),
        (lambda e: e.update(label_names="abc"), "label_names"),
        (lambda e: e.update(label_names=[{"a": 1}]), "label_names"),
        (lambda e: [1, 2], "extra"),
    ],
)
def test_a_damaged_prior_label_table_is_one_line(project, tmp_path, capsys, change, words):
    path = os.path.join(project, "prior.safetensors")
    _damage(path, meta=_json_field("extra", change))
    last = _refused(capsys, _generate(project, tmp_path))
    assert "prior.safetensors" in last and words in last


# ------------------------------------------------------------------------- 4: project.json numbers


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d["normalization"].update(mean=[1e39, 0.0]), "'data.normalization.mean'"),
        (lambda d: d["normalization"].update(std=[1e-46, 1.0]), "'data.normalization.std'"),
        (lambda d: d["normalization"].update(std=[1e39, 1.0]), "'data.normalization.std'"),
        (lambda d: d.update(rate=1e39), "'data.rate'"),
        (lambda d: d.update(window=2**62), "'data.window'"),
        (lambda d: d.update(output_rate="x"), "'data.output_rate'"),
        (lambda d: d.update(output_rate=1e39), "'data.output_rate'"),
    ],
)
def test_project_numbers_must_fit_float32(project, tmp_path, capsys, change, words):
    meta_path = os.path.join(project, "project.json")
    with open(meta_path) as f:
        meta = json.load(f)
    change(meta["data"])
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    last = _refused(capsys, _generate(project, tmp_path))
    assert "project.json" in last and words in last


def test_the_schema_keeps_what_training_writes(made):
    with open(os.path.join(made, "project.json")) as f:
        validate_meta(json.load(f), "project.json")


def test_the_schema_names_a_channel_range_that_overflows(made):
    with open(os.path.join(made, "project.json")) as f:
        meta = json.load(f)
    meta["data"]["channels"][1]["physical_max"] = -1e40
    with pytest.raises(ProjectError, match=r"'data.channels\[1\].physical_max'"):
        validate_meta(meta, "project.json")


# ------------------------------------------------------------------------- 5: the state file


def _progress(stage: str, change):
    return lambda s: change(s[stage]["extra"]["progress"])


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s: s["tokenizer"]["extra"].update(progress="abc"), "progress"),
        (lambda s: s["tokenizer"]["extra"].update(batch_size="x"), "batch_size"),
        (_progress("tokenizer", lambda p: p.update(config=[1])), "config"),
        (_progress("tokenizer", lambda p: p["config"].update(codebook_size=2**36)), "codebook_size"),
        (_progress("tokenizer", lambda p: p.update(budget="x")), "budget"),
        (_progress("tokenizer", lambda p: p.update(elapsed_s="x")), "elapsed_s"),
        (lambda s: s["tokenizer"]["optimizer"].update(state=[]), "optimizer"),
        (lambda s: s["tokenizer"]["rng"].update(python=5), "rng"),
        (lambda s: s["tokenizer"].update(extra=[1]), "extra"),
        (_progress("prior", lambda p: p.update(config="x")), "config"),
        (_progress("prior", lambda p: p["config"].update(depth=10**6)), "depth"),
        # within its limits, but more weights than the state holds: refused before it is built
        (
            _progress("tokenizer", lambda p: p["config"].update(codebook_size=2**20)),
            "where its configuration describes",
        ),
    ],
)
def test_a_damaged_state_file_is_one_line_on_resume(project, capsys, change, words):
    path = os.path.join(project, "state.safetensors")
    _damage(path, meta=_json_field("stages", change))
    last = _refused(capsys, _resume(project))
    assert "state.safetensors" in last and words in last
