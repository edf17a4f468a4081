"""Pretraining the per-channel codec on a corpus of public recordings (`corpus/manifest.json`).

The codec encodes each channel with the same network, so one set of weights serves any montage;
trained once here on the corpus's "pretrain" files, it ships with the app (`vqstudio.codec`)
and `vqstudio train` fine-tunes it on the user's recordings. Every channel of every file is
resampled to each of the working rates users train at (the rate logic of `data/working_rate.py`
picks among 100-250 Hz for EEG, ECG and PSG), normalised to zero mean and unit variance as a
project normalises its channels, and single-channel windows are drawn from them: EEG and ECG
equally often, whatever their hours, so 24 h of ECG do not drown 1 h of EEG.

A few files of each kind (whole people) are kept apart to report a held-out reconstruction.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["CorpusChannels", "CorpusFile", "PretrainSettings", "corpus_files", "pretrain_codec"]


@dataclass(frozen=True)
class PretrainSettings:
    """How the codec is pretrained: its preset, the rates, the windows and the budget."""

    preset: str = "codec"
    rates: tuple[float, ...] = (100.0, 128.0, 167.0, 180.0, 250.0)
    window: int = 512  # samples: 2-5 s at these rates, beats and alpha cycles included
    batch_size: int = 32  # single-channel windows per step
    minutes: float = 30.0
    steps: int = 0  # 0: the time budget alone decides
    seed: int = 0
    held_out_people: int = 2  # per kind: their files are kept apart for the held-out figure
    decoder_noise: bool = False
    lr: float = 2e-3
    log_every_s: float = 30.0
    overrides: dict[str, Any] = field(default_factory=dict)  # TokenizerConfig settings over the preset

    def __post_init__(self) -> None:
        if not self.rates or any(not r > 0 for r in self.rates):
            raise ValueError(f"pretraining rates must be positive, got {self.rates}")
        if self.window < 64 or self.batch_size < 1:
            raise ValueError("pretraining needs windows of at least 64 samples and batches of at least 1")
        if not (self.minutes > 0 or self.steps > 0):
            raise ValueError("pretraining needs --minutes or --steps")


@dataclass(frozen=True)
class CorpusFile:
    """One file of the corpus: where it is, what it holds, whose it is."""

    path: str
    kind: str  # "eeg", "ecg", "psg"
    person: str  # dataset and subject: files of one person stay on one side of the split
    sha256: str


def corpus_files(manifest_path: str, corpus_dir: str, role: str = "pretrain") -> list[CorpusFile]:
    """The files of `role` the manifest lists, found under `corpus_dir` (as
    `scripts/build_corpus.py` lays them out). A missing file is an error naming it."""
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    found = []
    for entry in manifest["files"]:
        if entry["role"] != role:
            continue
        path = os.path.join(corpus_dir, entry["out"])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: build the corpus first (scripts/build_corpus.py)")
        conversion = entry.get("conversion") or {}
        sha = conversion.get("output_sha256") or entry["sha256"]
        found.append(CorpusFile(path, entry["kind"], f"{entry['dataset']}:{entry['subject']}", sha))
    return found


def _channel_kind(label: str, file_kind: str) -> str:
    """The kind of one channel: an ECG lead inside an EEG file is ECG (a reference difference
    such as A2-A1 counts as EEG)."""
    low = label.lower()
    if "ecg" in low or "ekg" in low:
        return "ecg"
    if file_kind == "ecg":
        return "ecg"
    return "eeg"


class CorpusChannels:
    """Every channel of the given files at each rate, normalised, in memory, by kind; draws
    random single-channel windows."""

    def __init__(self, files: Sequence[CorpusFile], rates: Sequence[float], window: int, seed: int) -> None:
        from scipy.signal import resample_poly

        from vqstudio.data.defaults import signal_channels
        from vqstudio.io import read_recording

        self.window = window
        self.rates = tuple(rates)
        self.rng = np.random.default_rng(seed)
        # kind -> list of (rate index, channel array); lengths drive how often each is drawn.
        self.rows: dict[str, list[np.ndarray]] = {}
        self.hours: dict[str, float] = {}  # channel-hours of each kind, at the source rate
        for file in files:
            for ch in signal_channels(read_recording(file.path)):
                kind = _channel_kind(ch.label, file.kind)
                x = np.asarray(ch.samples, dtype=np.float64)
                if len(x) < window * 4 or not np.std(x) > 0:
                    continue
                self.hours[kind] = self.hours.get(kind, 0.0) + len(x) / ch.rate / 3600
                for rate in self.rates:
                    up, down = _ratio(rate, ch.rate)
                    y = resample_poly(x, up, down) if (up, down) != (1, 1) else x
                    if len(y) <= window:
                        continue
                    y = (y - y.mean()) / y.std()
                    self.rows.setdefault(kind, []).append(y.astype(np.float32))
        if not self.rows:
            raise ValueError("the corpus files hold no channel long enough to train on")
        self.kinds = sorted(self.rows)
        self._weights = {
            k: np.array([len(r) - window for r in rows], dtype=np.float64) for k, rows in self.rows.items()
        }
        for k in self._weights:
            self._weights[k] /= self._weights[k].sum()

    def batch(self, n: int) -> np.ndarray:
        """`(n, 1, window)` float32: each window from a kind drawn equally often, a channel drawn
        by its length, a start drawn uniformly; windows holding a flat stretch are drawn again."""
        from vqstudio.data.flat import flat_mask

        out = np.empty((n, 1, self.window), dtype=np.float32)
        i = 0
        while i < n:
            kind = self.kinds[self.rng.integers(len(self.kinds))]
            rows = self.rows[kind]
            row = rows[self.rng.choice(len(rows), p=self._weights[kind])]
            start = int(self.rng.integers(len(row) - self.window))
            w = row[start : start + self.window]
            if flat_mask(w, 100.0).any():
                continue  # a flat or clipped stretch teaches the codec nothing
            out[i, 0] = w
            i += 1
        return out


def _ratio(dst: float, src: float) -> tuple[int, int]:
    """Whole numbers (up, down) with src * up / down = dst within 0.1 %."""
    from fractions import Fraction

    f = Fraction(dst / src).limit_denominator(1000)
    return f.numerator, f.denominator


def split_people(files: Sequence[CorpusFile], per_kind: int, seed: int) -> tuple[list, list]:
    """(training files, held-out files): `per_kind` people of each kind held out, whole."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for kind in sorted({f.kind for f in files}):
        people = sorted({f.person for f in files if f.kind == kind})
        if len(people) > per_kind:
            held.update(rng.choice(people, size=per_kind, replace=False).tolist())
    return [f for f in files if f.person not in held], [f for f in files if f.person in held]


def held_out_figures(model: Any, windows: np.ndarray, rate: float) -> dict[str, float]:
    """Reconstruction figures of `windows` ((n, 1, T) at `rate`): SNR and PSD log-spectral
    distance in dB, PRD in % (`vqstudio.evaluation.reconstruction_metrics`)."""
    import torch

    from vqstudio.evaluation.reconstruction_metrics import reconstruction_metrics
    from vqstudio.training.validation import eval_mode

    with torch.no_grad(), eval_mode(model):
        rec = model(torch.from_numpy(windows)).reconstruction.float().numpy()
    return {k: round(float(v), 3) for k, v in reconstruction_metrics(windows, rec, rate).items()}


def pretrain_codec(
    files: Sequence[CorpusFile],
    settings: PretrainSettings,
    out: str,
    provenance: dict[str, Any],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Trains the codec on `files` within the budget and writes it to `out` (safetensors, its
    config, the settings, the corpus `provenance` and the held-out figures in its metadata);
    returns the figures. Runs on the CPU threads torch is given."""
    import torch

    from vqstudio.codec import save_codec
    from vqstudio.models.tokenizer import Tokenizer, preset_config
    from vqstudio.training.optim import make_optimizer, set_lr
    from vqstudio.training.settings import TOKENIZER_OPTIM
    from vqstudio.training.tokenizer_stage import tokenizer_step

    torch.manual_seed(settings.seed)
    train_files, held_files = split_people(files, settings.held_out_people, settings.seed)
    log(f"pretraining on {len(train_files)} files, {len(held_files)} held out (whole people)")
    data = CorpusChannels(train_files, settings.rates, settings.window, settings.seed)
    held = (
        CorpusChannels(held_files, settings.rates[:1], settings.window, settings.seed + 1)
        if held_files
        else None
    )
    held_x = held.batch(256) if held is not None else data.batch(256)
    overrides = {"decoder_noise": settings.decoder_noise, **settings.overrides}
    cfg = preset_config(settings.preset, channels=1, window=settings.window, **overrides)
    model = Tokenizer(cfg)
    optim = replace(TOKENIZER_OPTIM, lr=settings.lr)
    opt = make_optimizer(model, optim)
    with torch.no_grad():
        model.init_codebook(model.encode(torch.from_numpy(data.batch(512))).float())
    budget_s = settings.minutes * 60 if settings.minutes > 0 else math.inf
    start, step, last_log = time.monotonic(), 0, 0.0
    losses: dict[str, float] = {}
    while True:
        elapsed = time.monotonic() - start
        done = elapsed >= budget_s or (settings.steps > 0 and step >= settings.steps)
        if done:
            break
        progress = max(elapsed / budget_s, step / settings.steps if settings.steps > 0 else 0.0)
        set_lr(opt, optim.lr_at(step, progress))
        x = torch.from_numpy(data.batch(settings.batch_size))
        parts, _ = tokenizer_step(model, opt, x, optim.grad_clip, torch.device("cpu"), step)
        losses = {k: float(v) for k, v in parts.items()}
        step += 1
        if elapsed - last_log >= settings.log_every_s:
            last_log = elapsed
            shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(losses.items()))
            log(f"step {step}, {elapsed / 60:.1f} min: {shown}")
    minutes = (time.monotonic() - start) / 60
    figures = {
        "steps": step,
        "minutes": round(minutes, 2),
        "windows_seen": step * settings.batch_size,
        **{f"held_out_{k}": v for k, v in held_out_figures(model, held_x, settings.rates[0]).items()},
        "last_losses": losses,
        "channel_hours": {k: round(v, 2) for k, v in data.hours.items()},  # hours x channels
        "usage": model.codebook_usage(),
    }
    info = {"settings": asdict(settings), "figures": figures, "provenance": provenance}
    save_codec(out, model, info)
    log(f"wrote {out}: {json.dumps(figures)}")
    return figures
