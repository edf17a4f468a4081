"""The project folder: `project.json` plus weights, state, history, samples and reports.

`project.json` is plain, indented JSON that anyone can read without VQ Studio: every setting,
the channel list, the rate and window, the normalisation statistics, the source files with their
sha256, the train/held-out split, the seed, the versions and device used, and the training
progress per stage. Weights are safetensors files beside it (see `vqstudio.checkpoint`).
This module knows nothing of torch except in `load_tokenizer`, which imports it lazily.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from typing import Any

from vqstudio import __version__
from vqstudio.atomic import write_json
from vqstudio.errors import ProjectError

__all__ = ["FORMAT", "SCHEMA_VERSION", "Project"]

FORMAT = "vqstudio-project"
SCHEMA_VERSION = 1
META_FILE = "project.json"


def _versions() -> dict[str, str]:
    """Versions of the software that trained the project (torch only if already imported)."""
    import sys

    import numpy as np

    torch = sys.modules.get("torch")
    return {
        "python": platform.python_version(),
        "vqstudio": __version__,
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", "") if torch else "",
        "platform": platform.platform(),
    }


class Project:
    """A project folder. Make one with `Project.create`, open one with `Project.open`.

    `meta` is the content of `project.json` (a dict); change it, then call `save()`.
    """

    def __init__(self, path: str, meta: dict[str, Any]) -> None:
        self.path = os.path.abspath(path)
        self.meta = meta

    def __repr__(self) -> str:
        return f"<Project {self.path}>"

    # ------------------------------------------------------------------ make and open

    @staticmethod
    def exists(path: str) -> bool:
        """True when `path` holds a project (its `project.json`)."""
        return os.path.isfile(os.path.join(path, META_FILE))

    @classmethod
    def create(cls, path: str, meta: dict[str, Any] | None = None) -> Project:
        """Makes the folder (or uses an empty/foreign-free one) and writes `project.json`.

        Refuses a folder that already holds a project (`ProjectError`: use --resume or another folder).
        """
        if cls.exists(path):
            raise ProjectError(
                f"{path} already holds a project; use --resume to continue it, "
                "or choose another --project folder"
            )
        if os.path.exists(path) and not os.path.isdir(path):
            raise ProjectError(f"{path} is a file, not a folder; choose a folder for --project")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise ProjectError(f"cannot make the project folder {path}: {e.strerror or e}") from e
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        full = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "created": now,
            "versions": _versions(),
            **(meta or {}),
        }
        project = cls(path, full)
        project.save()
        return project

    @classmethod
    def open(cls, path: str) -> Project:
        """Opens an existing project; `ProjectError` for a missing, unreadable or foreign folder."""
        if not os.path.isdir(path):
            raise ProjectError(
                f"no project folder at {path}; train one first with: vqstudio train FILE --project {path}"
            )
        meta_path = os.path.join(path, META_FILE)
        if not os.path.isfile(meta_path):
            raise ProjectError(f"{path} is not a VQ Studio project (it has no {META_FILE})")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ProjectError(f"{meta_path} is unreadable or not JSON: {e}") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ProjectError(f"{meta_path} is not a VQ Studio project file (no '{FORMAT}' format marker)")
        version = meta.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ProjectError(
                f"{meta_path} has schema version {version}; this VQ Studio ({__version__}) reads up to "
                f"{SCHEMA_VERSION}: update VQ Studio"
            )
        return cls(path, meta)

    def save(self) -> None:
        """Writes `project.json` atomically (the versions of the running software are refreshed)."""
        self.meta["versions"] = _versions()
        self.meta["saved"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        write_json(self.meta_path, self.meta)

    # ------------------------------------------------------------------ paths

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def meta_path(self) -> str:
        return self.file(META_FILE)

    @property
    def tokenizer_path(self) -> str:
        return self.file("tokenizer.safetensors")

    @property
    def prior_path(self) -> str:
        return self.file("prior.safetensors")

    @property
    def state_path(self) -> str:
        return self.file("state.safetensors")

    @property
    def history_path(self) -> str:
        return self.file("history.jsonl")

    @property
    def samples_dir(self) -> str:
        return self.file("samples")

    @property
    def reports_dir(self) -> str:
        return self.file("reports")

    # ------------------------------------------------------------------ content

    @property
    def data(self) -> dict[str, Any]:
        """The prepared-data description: channels, rate, window, normalisation, sources, split."""
        return self.meta.get("data", {})

    @property
    def rate(self) -> float:
        return float(self.data["rate"])

    @property
    def window(self) -> int:
        return int(self.data["window"])

    @property
    def channel_labels(self) -> list[str]:
        return [c["label"] for c in self.data.get("channels", [])]

    @property
    def seed(self) -> int:
        return int(self.meta.get("seed", 0))

    def progress(self, stage: str) -> dict[str, Any]:
        """Training progress of `stage` ('tokenizer', 'prior'): step, done, elapsed_s, metrics."""
        return dict(self.meta.get("progress", {}).get(stage, {}))

    def set_progress(self, stage: str, **values: Any) -> None:
        """Updates `stage`'s progress entries (call `save()` to write)."""
        self.meta.setdefault("progress", {}).setdefault(stage, {}).update(values)

    @property
    def has_tokenizer(self) -> bool:
        return os.path.isfile(self.tokenizer_path)

    @property
    def has_prior(self) -> bool:
        return os.path.isfile(self.prior_path)

    def append_history(self, record: dict[str, Any]) -> None:
        """Appends one JSON line to `history.jsonl` (appends are small and line-atomic in practice)."""
        with open(self.history_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False, default=float) + "\n")

    def history(self, stage: str | None = None) -> list[dict[str, Any]]:
        """The records of `history.jsonl` (of one stage if given); a torn last line is skipped."""
        if not os.path.isfile(self.history_path):
            return []
        out = []
        with open(self.history_path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if stage is None or rec.get("stage") == stage:
                    out.append(rec)
        return out

    def load_tokenizer(self, device: Any = "cpu") -> Any:
        """The trained tokenizer in eval mode on `device` (torch imported here, lazily)."""
        from vqstudio.checkpoint import load_weights
        from vqstudio.models.tokenizer import Tokenizer, TokenizerConfig

        if not self.has_tokenizer:
            raise ProjectError(f"{self.path} has no trained tokenizer yet; run vqstudio train first")
        tensors, info = load_weights(self.tokenizer_path, kind="tokenizer")
        try:
            model = Tokenizer(TokenizerConfig(**info["config"]))
            model.load_state_dict(tensors)
        except (TypeError, RuntimeError, ValueError) as e:
            from vqstudio.errors import CheckpointError

            raise CheckpointError(
                f"{os.path.basename(self.tokenizer_path)} does not match its configuration: {e}"
            ) from e
        return model.to(device).eval()
