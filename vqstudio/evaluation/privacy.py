"""Membership inference on a project: its training windows against its held-out windows, with
the synthetic set an attacker would have and the models a white-box attacker would have
(`membership.py` defines the attacks and the figures).

`project_membership` picks the candidates from the project's own split (the same windows
training and held-out validation used, `vqstudio.project.windows.prepare_from_project`):
- per window: the held-out part of each recording (its end, never trained on) is cut in two
  halves in time, windows every training stride (a quarter window by default) inside each, none
  shared: the second half gives the non-member candidates, the first DOMIAS's reference real
  data; members are as many training windows, chosen at random;
- per file: only with recordings never trained on (`other`: the evaluation's `--real` files),
  each scored by the mean of up to `PER_FILE` of its windows, against the training recordings'
  training windows, DOMIAS's reference then being every held-out window.
torch is imported only to load the models, when the white-box attacks run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vqstudio.evaluation.membership import (
    MAX_CANDIDATES,
    MIN_CANDIDATES,
    MIN_FILES,
    PER_FILE,
    Candidates,
    Scorer,
    distance_scorer,
    domias_scorer,
    membership_inference_job,
)
from vqstudio.evaluation.places import source_names, stretches
from vqstudio.events import Job, LogLine, StopRequest

__all__ = ["OtherRecordings", "project_membership"]

MAX_REFERENCE = 1000  # DOMIAS reference windows: more cost time and add little
MAX_FILE_WINDOWS = 600  # windows per side in the per-file attack: memory for many files


@dataclass
class OtherRecordings:
    """Normalised windows `(n, channels, samples)` of recordings never trained on, and the file
    each comes from."""

    windows: np.ndarray
    files: Sequence[str]


def _per_file_windows(files: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of up to `PER_FILE` random windows of each file (fewer when there are many files:
    `MAX_FILE_WINDOWS` in all, at least 3 each), files in first-seen order."""
    names = list(dict.fromkeys(files.tolist()))
    each = max(3, min(PER_FILE, MAX_FILE_WINDOWS // max(1, len(names))))
    picked = []
    for f in names:
        idx = np.flatnonzero(files == f)
        picked.append(np.sort(rng.choice(idx, min(each, idx.size), replace=False)))
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)


def _white_box(project: Any, seed: int) -> tuple[dict[str, Scorer], dict[str, str], dict[str, str]]:
    """The white-box scorers the project's models allow (best checkpoints, as generate uses),
    the attacks that cannot run and why, and a dict that the prior's scorer fills with the name
    of the loss its kind gives (under "what") once it has run."""
    attacks: dict[str, Scorer] = {}
    missing: dict[str, str] = {}
    said: dict[str, str] = {}
    if not project.has_tokenizer:
        missing["tokenizer"] = missing["prior"] = "the project has no trained tokenizer yet"
        return attacks, missing, said
    from vqstudio.evaluation import white_box
    from vqstudio.priors.store import load_prior

    tokenizer = project.load_tokenizer("cpu")
    attacks["tokenizer"] = lambda x: white_box.tokenizer_scores(tokenizer, x)
    if not project.has_prior:
        missing["prior"] = "the project has no trained prior yet"
        return attacks, missing, said
    prior = load_prior(project.weights_path("prior", "best"), "cpu").model

    def prior_attack(x: np.ndarray) -> np.ndarray:
        scores, what = white_box.prior_scores(prior, tokenizer, x, seed)
        said["what"] = what
        return scores

    attacks["prior"] = prior_attack
    return attacks, missing, said


def project_membership(
    project: Any,
    prepared: Any,
    synthetic: np.ndarray,
    synthetic_pieces: Sequence[np.ndarray],
    *,
    other: OtherRecordings | None = None,
    seed: int = 0,
    stop: StopRequest | None = None,
) -> Job[dict[str, Any]]:
    """Every attack of `membership.ATTACKS` on the project (see the module docstring):
    `prepared` is the project's own preparation (`prepare_from_project`), `synthetic` the
    normalised synthetic windows and `synthetic_pieces` the contiguous normalised synthetic
    signals they were cut from. Returns the JSON form of `membership_inference`, with the
    candidates described."""
    rng = np.random.default_rng([seed, 23])
    n_train = len(prepared.train)
    val_share = f"{100 * prepared.config.val_fraction:g} %"
    window: Candidates | None = None
    ref_windows, non_windows = _held_out_halves(prepared, rng)
    n_side = min(MAX_CANDIDATES, len(non_windows), n_train)
    if n_side >= MIN_CANDIDATES and len(ref_windows) >= MIN_CANDIDATES:
        non_idx = np.sort(rng.choice(len(non_windows), n_side, replace=False))
        mem_idx = np.sort(rng.choice(n_train, n_side, replace=False))
        ref_idx = np.sort(rng.choice(len(ref_windows), min(len(ref_windows), MAX_REFERENCE), replace=False))
        reference = ref_windows[ref_idx]
        window = Candidates(prepared.windows("train", mem_idx), non_windows[non_idx])
        window_note = (
            f"members: {n_side} training windows; non-members: {n_side} held-out windows (the last "
            f"{val_share} of each recording, never trained on: the second half of it); DOMIAS's reference: "
            f"{len(ref_idx)} windows of the first half. The held-out part is the end of each recording, so "
            "a recording that changes over time can raise an AUC somewhat without any memorization."
        )
    else:
        reference = None
        window_note = (
            f"too few held-out windows to judge: the held-out part (the last {val_share} of each recording) "
            f"gives {len(non_windows)} candidate and {len(ref_windows)} reference window(s) (its second and "
            f"first halves, a window every {_hop_s(prepared):g} s); at least {MIN_CANDIDATES} of each are "
            "needed. Give longer recordings."
        )

    per_file, file_note, file_reference = _file_candidates(prepared, other, rng)
    attacks: dict[str, Scorer] = {}
    file_attacks: dict[str, Scorer] = {}
    unavailable: dict[str, str] = {}
    if window is not None or per_file is not None:
        yield LogLine("membership inference: fitting the attacks")
        if reference is not None:
            attacks["domias"] = domias_scorer(reference, synthetic, prepared.rate)
        if per_file is not None and file_reference is not None:
            file_attacks["domias"] = domias_scorer(file_reference, synthetic, prepared.rate)
            attacks.setdefault("domias", file_attacks["domias"])
        attacks["distance"] = distance_scorer(synthetic_pieces)
        white, missing, said = _white_box(project, seed)
        attacks.update(white)
        unavailable.update(missing)
    else:
        said = {}
    out = yield from membership_inference_job(
        attacks,
        window,
        per_file,
        window_note=window_note,
        file_note=file_note,
        file_attacks=file_attacks,
        unavailable=unavailable,
        stop=stop.is_set if stop is not None else None,
    )
    if "what" in said and "prior" in out["attacks"]:
        out["attacks"]["prior"]["definition"] = (
            f"White box, from the project's prior: minus the {said['what']}."
        )
    out["candidates"] = {
        "training_windows": n_train,
        "held_out_windows_cut": len(ref_windows) + len(non_windows),
        "held_out_share": prepared.config.val_fraction,
        "recordings": len(prepared.sources),
    }
    return out


def _hop_s(prepared: Any) -> float:
    return _hop(prepared) / prepared.rate


def _hop(prepared: Any) -> int:
    """The step between held-out candidate windows: the training windows' own (a quarter of a
    window by default), so both sides overlap alike."""
    stride_s = prepared.config.stride_s or prepared.config.window_s / 4
    return max(1, round(stride_s * prepared.rate))


def _held_out_halves(prepared: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Normalised held-out windows of the first half of each held-out stretch (DOMIAS's
    reference) and of its second half (non-member candidates), a window every `_hop` samples,
    none straddling the middle, so no reference window shares a sample with a candidate; those
    holding a flat or saturated stretch are left out, as in training. At most `MAX_REFERENCE`
    and twice `MAX_CANDIDATES` windows are cut, chosen at random (a long recording's held-out
    part would otherwise cost memory for nothing). Without the stretches' places: the split's
    own (disjoint) windows, alternately to each side."""
    from vqstudio.data.flat import flat_windows

    window, data = prepared.window, prepared.val.data
    parts = stretches(prepared, prepared.val, "held_out_s")
    if parts is None:
        w = prepared.windows("val")
        return w[0::2], w[1::2]
    if not parts:
        empty = np.zeros((0, data.shape[0], window), np.float32)
        return empty, empty
    first, second = [], []
    for p in parts:
        mid = (p.offset + p.stop) // 2
        first.append(np.arange(p.offset, mid - window + 1, _hop(prepared), dtype=np.int64))
        second.append(np.arange(mid, p.stop - window + 1, _hop(prepared), dtype=np.int64))
    halves = []
    for starts, cap in ((np.concatenate(first), MAX_REFERENCE), (np.concatenate(second), 2 * MAX_CANDIDATES)):
        if starts.size > cap:
            starts = np.sort(rng.choice(starts, cap, replace=False))
        idx = starts[:, None] + np.arange(window)[None, :]
        w = np.ascontiguousarray(data[:, idx].transpose(1, 0, 2))
        bad = flat_windows(prepared.physical(w), prepared.rate) if len(w) else np.zeros(0, bool)
        halves.append(w[~bad])
    return halves[0], halves[1]


def _file_candidates(
    prepared: Any, other: OtherRecordings | None, rng: np.random.Generator
) -> tuple[Candidates | None, str, np.ndarray | None]:
    """The per-file candidates (None with the reason when files cannot be units) and DOMIAS's
    reference for them."""
    names = source_names(prepared)
    n_sources = len(prepared.sources)
    if other is None:
        return (
            None,
            "not defined for this project: it splits each recording by time (the last "
            f"{100 * prepared.config.val_fraction:g} % held out), so each of its {n_sources} recording(s) "
            "gave both training and held-out windows and none is wholly outside training. To judge per "
            f"file, evaluate with recordings never trained on (--real, at least {MIN_FILES}) beside a "
            f"project of at least {MIN_FILES} recordings.",
            None,
        )
    trained_files = np.array([names[i] for i in prepared.train.files], dtype=object)
    other_files = np.asarray(list(other.files), dtype=object)
    n_m, n_n = len(set(trained_files.tolist())), len(set(other_files.tolist()))
    if n_m < MIN_FILES or n_n < MIN_FILES:
        return (
            None,
            f"too few files to judge: {n_m} training recording(s) and {n_n} recording(s) never trained "
            f"on; at least {MIN_FILES} of each are needed",
            None,
        )
    mem_idx = _per_file_windows(trained_files, rng)
    non_idx = _per_file_windows(other_files, rng)
    n_val = len(prepared.val)
    if n_val < MIN_CANDIDATES:
        return None, f"too few held-out windows ({n_val}) to serve as DOMIAS's reference per file", None
    ref_idx = np.sort(rng.choice(n_val, min(n_val, MAX_REFERENCE), replace=False))
    cand = Candidates(
        prepared.windows("train", mem_idx),
        np.asarray(other.windows)[non_idx],
        trained_files[mem_idx].tolist(),
        other_files[non_idx].tolist(),
    )
    note = (
        f"members: the {n_m} training recordings (training windows); non-members: {n_n} recordings never "
        f"trained on; each recording scored by the mean of up to {PER_FILE} of its windows; DOMIAS's "
        "reference: the project's held-out windows. Recordings of other people or sessions differ from the "
        "training ones even without memorization, which can raise a per-file AUC."
    )
    return cand, note, prepared.windows("val", ref_idx)
