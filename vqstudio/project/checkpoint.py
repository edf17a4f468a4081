"""Weights and training state in safetensors files, with JSON metadata; never pickle.

A weights file (`tokenizer.safetensors`, `prior.safetensors`) holds a module's tensors and, in
its metadata, a format marker, its kind, its config as JSON and the step it was saved at, so it
can be rebuilt without VQ Studio's help. A state file (`state.safetensors`) holds, per training
stage, the optimizer's tensors (its non-tensor parts as JSON in the metadata) and the random
generators' states, so `--resume` continues exactly. Loading checks the marker and the kind and
refuses anything else (a safetensors file from another program, a pickle renamed, a truncated
file) with a `CheckpointError` naming the file, as it does weights holding NaN or infinite values
and state metadata of the wrong type. Writes are atomic.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vqstudio.errors import CheckpointError
from vqstudio.io.atomic import atomic_path, check_size, write_failed

__all__ = [
    "FORMAT",
    "check_finite",
    "check_weight_count",
    "load_state",
    "load_weights",
    "optimizer_from_tensors",
    "optimizer_to_tensors",
    "read_metadata",
    "restore_rng",
    "rng_to_tensors",
    "save_state",
    "save_weights",
    "saved_stages",
    "stored_weight_count",
]

FORMAT = "vqstudio"
WEIGHTS_VERSION = 1


def _folder_project_id(folder: str) -> str | None:
    """The id in the `project.json` of `folder` (None: no project there, or one made before ids)."""
    try:
        with open(os.path.join(folder, "project.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    value = meta.get("id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None


def _check_identity(path: str, meta: Mapping[str, str]) -> None:
    """A weights or state file belongs to the project whose folder holds it: one carrying another
    project's id was copied from there (`CheckpointError`). Files of projects made before ids
    existed carry none and pass."""
    theirs, ours = meta.get("project"), _folder_project_id(os.path.dirname(os.path.abspath(path)))
    if theirs and ours and theirs != ours:
        raise CheckpointError(
            f"{os.path.basename(path)} belongs to another project (it was written for project "
            f"{theirs[:8]}, this folder's is {ours[:8]}): it was copied from elsewhere; copy a whole "
            "project folder instead, or train this one again"
        )


def _write(
    path: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], owner: str | None
) -> None:
    # safetensors wants contiguous CPU tensors that share no memory.
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    project_id = _folder_project_id(owner or os.path.dirname(os.path.abspath(path)))
    metadata = {**metadata, **({"project": project_id} if project_id else {})}
    with atomic_path(path, owner=owner) as tmp:
        save_file(flat, tmp, metadata=dict(metadata))
        check_size(tmp, _expected_size(tmp), path)


def _expected_size(path: str) -> int:
    """The size a safetensors file must have: its header's length, the header and the data its
    last tensor ends at (a short file is one a full disk cut)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise write_failed(path, "the writer left an unreadable header") from e
    ends = [e["data_offsets"][1] for k, e in header.items() if k != "__metadata__"]
    return 8 + n + max(ends, default=0)


def _header(path: str) -> dict[str, Any]:
    """The JSON header of a safetensors file (its tensors' shapes and its metadata); nothing loaded."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} does not exist; train the project first (vqstudio train ...)")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{name} is truncated or empty ({os.path.getsize(path)} bytes)")
            n = int.from_bytes(head, "little")
            if n <= 0 or n > 100_000_000 or n + 8 > os.path.getsize(path):
                raise CheckpointError(
                    f"{name} is not a safetensors file (or it is truncated); "
                    "VQ Studio reads only its own safetensors checkpoints"
                )
            header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{name} is not a safetensors file: its header is unreadable") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} is not a safetensors file: its header is not a JSON object")
    return header


def read_metadata(path: str) -> dict[str, str]:
    """The metadata of a safetensors file; `CheckpointError` if it is not one of ours."""
    meta = _header(path).get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{os.path.basename(path)} is a safetensors file from another program (no '{FORMAT}' format "
            "marker); VQ Studio reads only checkpoints it wrote"
        )
    meta = {str(k): str(v) for k, v in meta.items()}
    _check_identity(path, meta)
    return meta


def stored_weight_count(path: str, prefix: str = "") -> int:
    """How many values the tensors of `path` whose names start with `prefix` hold, read from the
    file's header (nothing loaded)."""
    total = 0
    for key, entry in _header(path).items():
        if key == "__metadata__" or not key.startswith(prefix):
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise CheckpointError(f"{os.path.basename(path)} is corrupt: the shape of '{key}' is unreadable")
        total += math.prod(shape)
    return total


def check_weight_count(path: str, expected: int, prefix: str = "") -> None:
    """Refuses (`CheckpointError`) a configuration describing more weights than `path` holds
    (under `prefix`): checked before the model is built, since building a damaged configuration
    (a codebook of 2**36 codes) would allocate first."""
    held = stored_weight_count(path, prefix)
    if expected > held:
        where = f" under '{prefix}'" if prefix else ""
        raise CheckpointError(
            f"{os.path.basename(path)} holds {held:,} weights{where} where its configuration describes "
            f"{expected:,}; the file is damaged: train again or restore it"
        )


def check_finite(name: str, tensors: Mapping[str, torch.Tensor], prefix: str = "") -> None:
    """Refuses (`CheckpointError`, naming file `name` and the first tensor) floating-point tensors
    holding NaN or infinite values: loaded as they are, they give garbage output with no error."""
    for key in sorted(tensors):
        tensor = tensors[key]
        if key.startswith(prefix) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{name} holds NaN or infinite values (in '{key}'); the file is damaged "
                "(or its training diverged): train again or restore it"
            )


def _load_tensors(path: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{os.path.basename(path)} is corrupt or truncated: {e}") from e


def save_weights(
    path: str,
    tensors: Mapping[str, torch.Tensor],
    kind: str,
    config: Mapping[str, Any],
    step: int,
    extra: Mapping[str, Any] | None = None,
    *,
    owner: str | None = None,
) -> None:
    """Writes a module's `state_dict()` with its kind ('tokenizer', 'prior'), config and step.

    `owner` is the project folder the file belongs to (see `vqstudio.io.write_guard`)."""
    meta = {
        "format": FORMAT,
        "version": str(WEIGHTS_VERSION),
        "kind": kind,
        "config": json.dumps(dict(config)),
        "step": str(int(step)),
        "extra": json.dumps(dict(extra or {})),
    }
    _write(path, tensors, meta, owner)


def load_weights(path: str, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and `{kind, config, step, extra}` of a weights file, checked; never unpickles.

    Raises `CheckpointError` for a missing, foreign, corrupt or wrong-kind file.
    """
    name = os.path.basename(path)
    meta = read_metadata(path)
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{name} holds a '{meta.get('kind')}' checkpoint, not a '{kind}' one")
    try:
        info = {
            "kind": meta.get("kind", ""),
            "config": json.loads(meta.get("config", "{}")),
            "step": int(meta.get("step", "0")),
            "extra": json.loads(meta.get("extra", "{}")),
        }
    except ValueError as e:
        raise CheckpointError(f"{name} has unreadable metadata: {e}") from e
    for key in ("config", "extra"):
        if not isinstance(info[key], dict):
            raise CheckpointError(f"{name} has unreadable metadata: its '{key}' is not a JSON object")
    tensors = _load_tensors(path)
    check_finite(name, tensors)
    return tensors, info


# ---------------------------------------------------------------- optimizer and RNG state


def optimizer_to_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """An optimizer's `state_dict()` split into named tensors and a JSON-able rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_json: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        rest = {}
        for k, v in entry.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}optim.{pid}.{k}"] = v
            else:
                rest[k] = v
        state_json[str(pid)] = rest
    return tensors, {"param_groups": sd["param_groups"], "state": state_json}


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer,
    tensors: Mapping[str, torch.Tensor],
    info: Mapping[str, Any],
    prefix: str,
) -> None:
    """Loads what `optimizer_to_tensors` produced back into `optimizer`."""
    state: dict[int, dict[str, Any]] = {int(pid): dict(rest) for pid, rest in info["state"].items()}
    head = f"{prefix}optim."
    for key, value in tensors.items():
        if key.startswith(head):
            pid, name = key[len(head) :].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def rng_to_tensors(prefix: str, generators: Mapping[str, torch.Generator] | None = None) -> tuple[dict, dict]:
    """States of torch (CPU, CUDA), numpy, Python `random` and named torch generators."""
    tensors = {f"{prefix}rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{prefix}rng.cuda.{i}"] = s
    for name, gen in (generators or {}).items():
        tensors[f"{prefix}rng.gen.{name}"] = gen.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - the global state is what we save
    tensors[f"{prefix}rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    info = {
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "python": json.loads(json.dumps(random.getstate())),
    }
    return tensors, info


def restore_rng(
    tensors: Mapping[str, torch.Tensor],
    info: Mapping[str, Any],
    prefix: str,
    generators: Mapping[str, torch.Generator] | None = None,
) -> None:
    """Puts back what `rng_to_tensors` saved (CUDA states only where the GPUs exist)."""
    torch.set_rng_state(tensors[f"{prefix}rng.torch"].to(torch.uint8))
    if torch.cuda.is_available():
        cuda = [tensors[k] for k in sorted(tensors) if k.startswith(f"{prefix}rng.cuda.")]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in cuda])
    for name, gen in (generators or {}).items():
        key = f"{prefix}rng.gen.{name}"
        if key in tensors:
            # A project resumed on another kind of device (CUDA <-> CPU) cannot take the other
            # generator's state; it then goes on from its own seed (the data order differs).
            with contextlib.suppress(RuntimeError, ValueError):
                gen.set_state(tensors[key].to(torch.uint8))
    kind, pos, has_gauss, cached = info["numpy"]
    keys = tensors[f"{prefix}rng.numpy"].numpy().view(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))  # noqa: NPY002
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))


def save_state(
    path: str,
    stage: str,
    optimizer: torch.optim.Optimizer,
    step: int,
    extra: Mapping[str, Any] | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    *,
    model: Mapping[str, torch.Tensor] | None = None,
    owner: str | None = None,
) -> None:
    """Writes `stage`'s optimizer and RNG state into `path`, keeping other stages' entries.

    `model` (a `state_dict()`) is stored too, so the file is a whole checkpoint on its own: a
    kill before the weights file catches up leaves a state that still resumes exactly.
    """
    prefix = f"{stage}."
    kept: dict[str, torch.Tensor] = {}
    stages: dict[str, Any] = {}
    if os.path.exists(path):
        try:
            meta = read_metadata(path)
            stages = json.loads(meta.get("stages", "{}"))
            kept = {k: v for k, v in _load_tensors(path).items() if not k.startswith(prefix)}
        except (CheckpointError, ValueError):
            kept, stages = {}, {}  # a damaged old state is replaced, not merged
    stages.pop(stage, None)
    opt_tensors, opt_info = optimizer_to_tensors(optimizer, prefix)
    rng_tensors, rng_info = rng_to_tensors(prefix, generators)
    model_tensors = {f"{prefix}model.{k}": v for k, v in (model or {}).items()}
    stages[stage] = {
        "step": int(step),
        "optimizer": opt_info,
        "rng": rng_info,
        "extra": dict(extra or {}),
        "has_model": bool(model_tensors),
    }
    meta = {"format": FORMAT, "version": str(WEIGHTS_VERSION), "kind": "state", "stages": json.dumps(stages)}
    _write(path, {**kept, **opt_tensors, **rng_tensors, **model_tensors}, meta, owner)


# ---------------------------------------------------------------- what a state file's stage entry holds


def _whole(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _object(v: Any) -> bool:
    return isinstance(v, dict)


def _object_or_null(v: Any) -> bool:
    return v is None or isinstance(v, dict)


def _optimizer_state(v: Any) -> bool:
    """`{param id: {name: non-tensor value}}`, as `optimizer_to_tensors` writes it."""
    return isinstance(v, dict) and all(k.isdigit() and isinstance(e, dict) for k, e in v.items())


def _numpy_rng(v: Any) -> bool:
    """[kind, pos, has_gauss, cached], as `rng_to_tensors` writes numpy's state."""
    return (
        isinstance(v, list)
        and len(v) == 4
        and isinstance(v[0], str)
        and _whole(0)(v[1])
        and _whole(0)(v[2])
        and isinstance(v[3], int | float)
    )


def _python_rng(v: Any) -> bool:
    """[version, internal state, gauss], as `random.getstate()` reads in JSON."""
    return (
        isinstance(v, list)
        and len(v) == 3
        and _whole(0)(v[0])
        and isinstance(v[1], list)
        and all(_whole(0)(x) for x in v[1])
        and (v[2] is None or isinstance(v[2], int | float))
    )


def _budget(v: Any) -> bool:
    return v is None or (
        isinstance(v, dict)
        and (v.get("steps") is None or _whole(0)(v["steps"]))
        and (v.get("seconds") is None or _real(v["seconds"]))
    )


# (path in a stage's entry, test, what it must be); a path marked optional may be absent (older
# versions of VQ Studio wrote fewer entries). Resuming reads each of these as the type given: a
# damaged one is named here rather than met as a traceback deep in training.
_STAGE_RULES: tuple[tuple[str, bool, Callable[[Any], bool], str], ...] = (
    ("step", False, _whole(0), "a whole number of steps"),
    ("optimizer", False, _object, "an object"),
    (
        "optimizer.param_groups",
        False,
        lambda v: isinstance(v, list) and all(map(_object, v)),
        "a list of objects",
    ),
    ("optimizer.state", False, _optimizer_state, "an object of objects by parameter number"),
    ("rng", False, _object, "an object"),
    ("rng.numpy", False, _numpy_rng, "numpy's generator state"),
    ("rng.python", False, _python_rng, "Python's generator state"),
    ("extra", True, _object, "an object"),
    ("extra.batch_size", True, _whole(1), "a positive whole number"),
    ("extra.elapsed_s", True, _real, "a number of seconds"),
    ("extra.progress", True, _object_or_null, "an object"),
    ("extra.progress.step", True, _whole(0), "a whole number of steps"),
    ("extra.progress.elapsed_s", True, _real, "a number of seconds"),
    ("extra.progress.batch_size", True, _whole(1), "a positive whole number"),
    ("extra.progress.budget", True, _budget, "an object of steps and seconds"),
    ("extra.progress.done", True, lambda v: isinstance(v, bool), "true or false"),
    ("extra.progress.metrics", True, _object_or_null, "an object"),
    ("extra.progress.config", True, _object_or_null, "an object"),
    ("extra.progress.kind", True, lambda v: isinstance(v, str), "a name"),
    ("extra.progress.labels", True, _object_or_null, "an object"),
    ("extra.progress.processes", True, _whole(1), "a positive whole number of processes"),
)
_ABSENT = object()


def _entry_value(entry: Any, dotted: str) -> Any:
    value = entry
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _check_stage(name: str, stage: str, entry: Any) -> None:
    """Refuses (`CheckpointError`, naming the field) a stage entry of the wrong shape or types."""
    if not isinstance(entry, dict):
        raise CheckpointError(f"{name} is damaged: its '{stage}' state is not an object; train again")
    for dotted, optional, test, must in _STAGE_RULES:
        value = _entry_value(entry, dotted)
        if value is _ABSENT and optional:
            continue
        if value is _ABSENT or not test(value):
            shown = "nothing" if value is _ABSENT else type(value).__name__
            raise CheckpointError(
                f"{name} is damaged: '{stage}.{dotted}' must be {must}, not {shown}; "
                "train again or restore the file"
            )


def _state_stages(path: str) -> dict[str, Any]:
    """The per-stage entries in a state file's metadata, each checked; `CheckpointError` if it is
    not a state file or an entry is damaged."""
    name = os.path.basename(path)
    meta = read_metadata(path)
    if meta.get("kind") != "state":
        raise CheckpointError(f"{name} is not a training-state file")
    try:
        stages = json.loads(meta.get("stages", "{}"))
    except ValueError as e:
        raise CheckpointError(f"{name} has unreadable metadata: {e}") from e
    if not isinstance(stages, dict):
        raise CheckpointError(f"{name} has unreadable metadata: its stages are not an object")
    for stage, entry in stages.items():
        _check_stage(name, stage, entry)
    return stages


def saved_stages(path: str) -> dict[str, dict[str, Any]]:
    """`{stage: {step, extra, has_model}}` of a state file (metadata only); {} when there is none."""
    if not os.path.exists(path):
        return {}
    try:
        return {
            str(k): {
                "step": int(v["step"]),
                "extra": dict(v.get("extra", {})),
                "has_model": bool(v.get("has_model")),
            }
            for k, v in _state_stages(path).items()
        }
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{os.path.basename(path)} has unreadable metadata: {e}") from e


def load_state(
    path: str,
    stage: str,
    optimizer: torch.optim.Optimizer,
    generators: Mapping[str, torch.Generator] | None = None,
    model: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Restores `stage`'s optimizer and RNG state from `path`, and `model`'s weights when the state
    holds them; returns `{step, extra, has_model}`."""
    name = os.path.basename(path)
    stages = _state_stages(path)
    if stage not in stages:
        raise CheckpointError(f"{name} holds no '{stage}' state to resume from")
    entry = stages[stage]
    tensors = _load_tensors(path)
    prefix = f"{stage}."
    check_finite(name, tensors, prefix)
    weights = {k[len(prefix) + 6 :]: v for k, v in tensors.items() if k.startswith(f"{prefix}model.")}
    try:
        if model is not None and weights:
            model.load_state_dict(weights)
        optimizer_from_tensors(optimizer, tensors, entry["optimizer"], prefix)
        restore_rng(tensors, entry["rng"], prefix, generators)
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as e:
        raise CheckpointError(f"{name} does not match this model: {e}") from e
    return {"step": int(entry["step"]), "extra": entry.get("extra", {}), "has_model": bool(weights)}
