"""The project folder: `project.json` plus weights, state, history, samples and reports.

`project.json` is plain, indented JSON that anyone can read without VQ Studio; the engine and
the app read and change it only through its typed record (`Project.record`, a
`vqstudio.project.record.ProjectRecord`), which says where each fact lives. Weights are
safetensors files beside it (see `vqstudio.project.checkpoint`). This module knows nothing of
torch except in `load_tokenizer`, which imports it lazily.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import os
import platform
import uuid
from typing import Any

from vqstudio import __version__
from vqstudio.data.prep import PrepConfig
from vqstudio.data.stream import CACHE_DIR, is_window_cache
from vqstudio.errors import OutputError, ProjectError
from vqstudio.io.atomic import atomic_path, disk_full_message, is_temp_name, write_json
from vqstudio.io.write_guard import PROJECT_FORMAT, PROJECT_MARKER_FILE, PROJECT_OUTPUT_FOLDERS
from vqstudio.project.lock import LOCK_FILE
from vqstudio.project.record import SCHEMA_VERSION, ProjectRecord, StageProgress, migrate_v1
from vqstudio.project.schema import validate_meta

__all__ = ["FORMAT", "SCHEMA_VERSION", "WEIGHTS", "Project"]

# Which weights a project's user takes: each stage's checkpoint of lowest held-out loss, or its
# latest (what a resume continues from).
WEIGHTS = ("best", "latest")

FORMAT = PROJECT_FORMAT
META_FILE = PROJECT_MARKER_FILE
# The files a project writes itself; none may be a link (it would lead the writes elsewhere).
OWN_FILES = (
    META_FILE,
    "tokenizer.safetensors",
    "prior.safetensors",
    "tokenizer.best.safetensors",
    "prior.best.safetensors",
    "state.safetensors",
    "history.jsonl",
    LOCK_FILE,
)
OUTPUT_FOLDERS = PROJECT_OUTPUT_FOLDERS
# What a folder may hold and still count as empty for a new project: the files desktops leave
# in any folder they show, and VQ Studio's own lock and temporary files.
_IGNORED_IN_EMPTY = (".DS_Store", "Thumbs.db", "desktop.ini", LOCK_FILE)


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


def _is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> Any:
    """`value` with every NaN/Inf float replaced by None (JSON has no NaN; a diverged loss is null)."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class Project:
    """A project folder. Make one with `Project.create`, open one with `Project.open`.

    `record` is what `project.json` holds; change it with `update` (or `set_stage`), then call
    `save()`.
    """

    def __init__(self, path: str, record: ProjectRecord) -> None:
        self.path = os.path.abspath(path)
        self.record = record

    def __repr__(self) -> str:
        return f"<Project {self.path}>"

    # ------------------------------------------------------------------ make and open

    @staticmethod
    def exists(path: str) -> bool:
        """True when `path` holds a project (its `project.json`)."""
        return os.path.isfile(os.path.join(path, META_FILE))

    @staticmethod
    def started(path: str) -> bool:
        """True when `path` holds a project that reached its first checkpoint (it can resume).

        A project.json alone is what a run that failed or was killed before its first checkpoint
        leaves behind; such a folder may be trained into again from the start.
        """
        return Project.exists(path) and any(
            os.path.exists(os.path.join(path, name))
            for name in ("state.safetensors", "tokenizer.safetensors", "prior.safetensors")
        )

    @staticmethod
    def check_new_folder(path: str) -> None:
        """Refuses (`ProjectError`) a folder a new project may not be made in: a file, a started
        project (resume it instead), or a folder holding files that are not a project's. An
        empty folder, a missing one and a project that never reached its first checkpoint pass."""
        if os.path.exists(path) and not os.path.isdir(path):
            raise ProjectError(f"{path} is a file, not a folder; choose a folder for --project")
        if Project.started(path):
            raise ProjectError(
                f"{path} already holds a project; add --resume to continue it, "
                "or choose another --project folder"
            )
        if not os.path.isdir(path) or Project.exists(path):
            return
        foreign = sorted(
            n
            for n in os.listdir(path)
            if n not in _IGNORED_IN_EMPTY
            and not is_temp_name(n)
            # the windows a new run streamed before making its project (vqstudio.data.stream)
            and not (n == CACHE_DIR and is_window_cache(os.path.join(path, n)))
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise ProjectError(
                f"{path} is not empty and not a VQ Studio project (it holds {shown}); a new project "
                "needs an empty or new folder: choose another --project folder"
            )

    @property
    def id(self) -> str | None:
        """The project's identity, a random id written when it was made (None in projects made
        before VQ Studio 0.3): every weights file carries it, so a file copied from another
        project is named as such."""
        return self.record.id

    @classmethod
    def create(cls, path: str, record: ProjectRecord) -> Project:
        """Makes the folder (or uses an existing one) and writes `project.json` from `record`
        (given a new id, its creation time and the running software's versions).

        Refuses what `check_new_folder` refuses (`ProjectError`); a project that never reached
        its first checkpoint is started again from nothing.
        """
        cls.check_new_folder(path)
        if cls.exists(path):
            cls.check_marker(path)  # only our own unfinished project is started again
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise ProjectError(f"cannot make the project folder {path}: {e.strerror or e}") from e
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        project = cls(path, dataclasses.replace(record, id=uuid.uuid4().hex, created=now))
        project._refuse_links()
        if os.path.exists(project.history_path):
            os.remove(project.history_path)  # the history of the run that never checkpointed
        project.save()
        return project

    @staticmethod
    def _read(path: str) -> tuple[dict[str, Any], int, str]:
        """project.json of the folder `path`: its content, schema version and path, after the
        checks that it is a VQ Studio project this VQ Studio can read."""
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
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectError(
                f"{meta_path} is damaged: 'schema_version' must be a whole number, not {version!r}"
            )
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"{meta_path} has schema version {version}; this VQ Studio ({__version__}) reads up to "
                f"{SCHEMA_VERSION}: update VQ Studio"
            )
        return meta, version, meta_path

    @staticmethod
    def check_marker(path: str) -> None:
        """Refuses (`ProjectError`) a folder that is not a VQ Studio project this version reads;
        its content is not checked (see `open`)."""
        Project._read(path)

    @classmethod
    def open(cls, path: str) -> Project:
        """Opens an existing project; `ProjectError` for a missing, unreadable, foreign or damaged
        one (naming the field). Files of schema version 1 (VQ Studio 0.1, 0.2) are read as 2."""
        meta, version, meta_path = cls._read(path)
        if version == 1:
            meta = migrate_v1(meta)
        validate_meta(meta, meta_path)
        project = cls(path, ProjectRecord.from_json(meta, meta_path))
        project._refuse_links()
        return project

    def _refuse_links(self) -> None:
        """A project's own files and output folders must not be links: writes would follow them out."""
        for name in (*OWN_FILES, *OUTPUT_FOLDERS):
            if os.path.islink(self.file(name)):
                raise ProjectError(
                    f"{self.file(name)} is a link; a project's files must be plain files inside its folder "
                    "(remove the link)"
                )

    def save(self) -> None:
        """Writes `project.json` atomically (the versions of the running software are refreshed;
        a project made before ids existed gets one, which its new checkpoints then carry)."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.record = dataclasses.replace(
            self.record, id=self.record.id or uuid.uuid4().hex, versions=_versions(), saved=now
        )
        write_json(self.meta_path, _finite(self.record.to_json()), owner=self.path)

    def update(self, **changes: Any) -> None:
        """Replaces fields of the record (`dataclasses.replace`); `save()` writes them."""
        self.record = dataclasses.replace(self.record, **changes)

    def set_stage(self, stage: str, progress: StageProgress | None) -> None:
        """Replaces `stage`'s progress (None: the stage starts again); `save()` writes it."""
        self.record = self.record.with_progress(stage, progress)

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
    def tokenizer_best_path(self) -> str:
        """The tokenizer of lowest held-out loss so far (written when a validation beats it)."""
        return self.file("tokenizer.best.safetensors")

    @property
    def prior_best_path(self) -> str:
        """The prior of lowest held-out loss so far."""
        return self.file("prior.best.safetensors")

    def weights_path(self, stage: str, which: str = "best") -> str:
        """The weights file of `stage` ('tokenizer', 'prior') that `which` names (`WEIGHTS`): the
        best when asked and written, else the latest (projects trained before best checkpoints
        existed have only the latest)."""
        if which not in WEIGHTS:
            raise ProjectError(f"weights must be one of {', '.join(WEIGHTS)}, got '{which}'")
        latest = self.tokenizer_path if stage == "tokenizer" else self.prior_path
        best = self.tokenizer_best_path if stage == "tokenizer" else self.prior_best_path
        return best if which == "best" and os.path.isfile(best) else latest

    def best_held_out_loss(self, stage: str) -> float | None:
        """The held-out loss of `stage`'s best checkpoint (None when it has none)."""
        from vqstudio.project.checkpoint import read_metadata

        path = self.tokenizer_best_path if stage == "tokenizer" else self.prior_best_path
        if not os.path.isfile(path):
            return None
        try:
            value = json.loads(read_metadata(path).get("extra", "{}")).get("held_out_loss")
        except ValueError:
            return None
        return float(value) if isinstance(value, int | float) else None

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
    def rate(self) -> float:
        """The model's rate (Hz): the working rate when one was chosen."""
        return self.record.data.rate

    @property
    def output_rate(self) -> float:
        """The rate of generated and reconstructed recordings: the source rate when the model
        works at a lower working rate, else the project's rate."""
        return self.record.data.output_rate or self.record.data.rate

    @property
    def fill(self) -> dict[str, Any] | None:
        """The spectrum above the working band that generation fills in (None: none)."""
        working = self.record.data.working
        return working.fill if working else None

    @property
    def window(self) -> int:
        """Window length in samples at `rate`."""
        return self.record.data.window

    @property
    def channels(self) -> tuple[Any, ...]:
        """The project's channels (`ChannelInfo`: label, unit, source header, source rate)."""
        return self.record.data.channels

    @property
    def channel_labels(self) -> list[str]:
        return [c.label for c in self.record.data.channels]

    @property
    def normalization(self) -> dict[str, list[float]]:
        """`{"mean": [...], "std": [...]}` per channel, as preparation takes them."""
        norm = self.record.data.normalization
        return {"mean": list(norm.mean), "std": list(norm.std)}

    @property
    def source_paths(self) -> list[str]:
        """The recordings the project was trained on, as listed in project.json (paths only)."""
        return [s.path for s in self.record.data.sources if s.path]

    @property
    def name(self) -> str:
        """The project's name: its stored `name`, else its folder's name."""
        return self.record.name or os.path.basename(self.path.rstrip(os.sep))

    @property
    def prep_config(self) -> PrepConfig:
        """How the project's recordings are prepared (channels, rate, window, filters, labels)."""
        return self.record.prep

    @property
    def seed(self) -> int:
        return self.record.seed

    def stage(self, name: str) -> StageProgress:
        """Where stage `name` ('tokenizer', 'prior') stands: step, time, budget, metrics."""
        return self.record.stage(name)

    @property
    def has_tokenizer(self) -> bool:
        return os.path.isfile(self.tokenizer_path)

    @property
    def has_prior(self) -> bool:
        return os.path.isfile(self.prior_path)

    def append_history(self, record: dict[str, Any]) -> None:
        """Appends one JSON line to `history.jsonl` (appends are small and line-atomic in practice).

        Never through a link (`O_NOFOLLOW`); a full disk is an `OutputError`."""
        line = (json.dumps(_finite(record), allow_nan=False, default=float) + "\n").encode("utf-8")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.history_path, flags, 0o666)  # the umask applies
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ProjectError(
                    f"{self.history_path} is a link; a project's files must be plain files"
                ) from e
            raise OutputError(
                disk_full_message(self.history_path, e) or f"cannot write {self.history_path}: {e.strerror}"
            ) from e

    def truncate_history(self, stage: str, step: int) -> None:
        """Drops `stage`'s history lines past `step` (and torn lines), so a resume repeats no step."""
        if not os.path.isfile(self.history_path):
            return
        kept, dropped = [], False
        with open(self.history_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    dropped = True
                    continue
                if not isinstance(rec, dict) or not _is_step(rec.get("step", 0)):
                    dropped = True  # not a line VQ Studio wrote: a resume must not trip on it
                    continue
                if rec.get("stage") == stage and rec.get("step", 0) > step:
                    dropped = True
                    continue
                kept.append(line if line.endswith("\n") else line + "\n")
        if dropped:
            with (
                atomic_path(self.history_path, owner=self.path) as tmp,
                open(tmp, "w", encoding="utf-8") as f,
            ):
                f.writelines(kept)

    def output_dir(self, name: str) -> str:
        """The project's `samples/` or `reports/` folder, made if needed; never a link."""
        if name not in OUTPUT_FOLDERS:
            raise ValueError(f"not a project output folder: {name}")
        folder = self.file(name)
        if os.path.islink(folder) or (os.path.exists(folder) and not os.path.isdir(folder)):
            raise ProjectError(f"{folder} is not a plain folder inside the project; remove it or rename it")
        # Write bits, not os.access: root may write anywhere, but a folder its owner made
        # read-only is refused to every command alike (as --resume refuses it).
        if not os.path.isdir(folder) and not os.stat(self.path).st_mode & 0o222:
            raise OutputError(f"cannot make {folder}: the project folder {self.path} is read-only")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise OutputError(disk_full_message(folder, e) or f"cannot make {folder}: {e.strerror}") from e
        return folder

    def history(self, stage: str | None = None) -> list[dict[str, Any]]:
        """The records of `history.jsonl` (of one stage if given); a torn last line, and lines
        that are not VQ Studio's records (no whole-number step), are skipped."""
        if not os.path.isfile(self.history_path):
            return []
        out = []
        with open(self.history_path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or not _is_step(rec.get("step", 0)):
                    continue
                if stage is None or rec.get("stage") == stage:
                    out.append(rec)
        return out

    def load_tokenizer(self, device: Any = "cpu", weights: str = "best") -> Any:
        """The trained tokenizer in eval mode on `device` (torch imported here, lazily): its best
        checkpoint by held-out loss, or its latest (`weights`; see `weights_path`)."""
        from vqstudio.errors import CheckpointError
        from vqstudio.models.tokenizer import Tokenizer, TokenizerConfig, without_critic
        from vqstudio.project.checkpoint import check_weight_count, load_weights

        if not self.has_tokenizer:
            raise ProjectError(f"{self.path} has no trained tokenizer yet; run vqstudio train first")
        path = self.weights_path("tokenizer", weights)
        tensors, info = load_weights(path, kind="tokenizer")
        name = os.path.basename(path)
        try:
            cfg = TokenizerConfig(**info["config"])
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{name} has a configuration this VQ Studio cannot build: {e}") from e
        # Checked before loading: a file copied from another project fails here with what differs.
        if (cfg.channels, cfg.window) != (len(self.channel_labels), self.window):
            raise CheckpointError(
                f"{name} was trained on {cfg.channels} channels x {cfg.window} samples, but this project has "
                f"{len(self.channel_labels)} x {self.window}; it belongs to another project"
            )
        check_weight_count(path, cfg.weight_count())  # before building it
        model = Tokenizer(cfg, with_critic=False)
        # Weights written before the critic was left out of them still hold it: generating ignores it.
        tensors = without_critic(tensors)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in tensors.items()}
        if expected != found:
            wrong = sorted(set(expected) ^ set(found)) or [k for k in expected if expected[k] != found[k]]
            raise CheckpointError(f"{name} does not match its configuration (first difference: {wrong[0]})")
        model.load_state_dict(tensors)
        return model.to(device).eval()
