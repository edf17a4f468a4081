"""Weights and training state in safetensors files, with JSON metadata; never pickle.

A weights file (`tokenizer.safetensors`, `prior.safetensors`) holds a module's tensors and, in
its metadata, a format marker, its kind, its config as JSON and the step it was saved at, so it
can be rebuilt without VQ Studio's help. A state file (`state.safetensors`) holds, per training
stage, the optimizer's tensors (its non-tensor parts as JSON in the metadata) and the random
generators' states, so `--resume` continues exactly. Loading checks the marker and the kind and
refuses anything else (a safetensors file from another program, a pickle renamed, a truncated
file) with a `CheckpointError` naming the file. Writes are atomic.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vqstudio.errors import CheckpointError
from vqstudio.io.atomic import atomic_path

__all__ = [
    "FORMAT",
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
]

FORMAT = "vqstudio"
WEIGHTS_VERSION = 1


def _write(
    path: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], owner: str | None
) -> None:
    # safetensors wants contiguous CPU tensors that share no memory.
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path, owner=owner) as tmp:
        save_file(flat, tmp, metadata=dict(metadata))


def read_metadata(path: str) -> dict[str, str]:
    """The metadata of a safetensors file; `CheckpointError` if it is not one of ours."""
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
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{name} is a safetensors file from another program (no '{FORMAT}' format marker); "
            "VQ Studio reads only checkpoints it wrote"
        )
    return {str(k): str(v) for k, v in meta.items()}


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
    return _load_tensors(path), info


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


def _state_stages(path: str) -> dict[str, Any]:
    """The per-stage entries in a state file's metadata; `CheckpointError` if it is not one."""
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
    weights = {k[len(prefix) + 6 :]: v for k, v in tensors.items() if k.startswith(f"{prefix}model.")}
    try:
        if model is not None and weights:
            model.load_state_dict(weights)
        optimizer_from_tensors(optimizer, tensors, entry["optimizer"], prefix)
        restore_rng(tensors, entry["rng"], prefix, generators)
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{name} does not match this model: {e}") from e
    return {"step": int(entry["step"]), "extra": entry.get("extra", {}), "has_model": bool(weights)}
