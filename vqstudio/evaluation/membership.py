"""Membership inference: how well an attacker tells the project's training windows (members) from
windows of the same recordings it never trained on (non-members).

Each attack gives every candidate window a score, higher meaning "more likely a member"; the
figures are the ROC AUC of members against non-members with its 95 % interval and the true-
positive rate at a 1 % false-positive rate (`roc.py`). An AUC of 0.5 and a TPR of about 1 % mean
the attacker learns nothing; 1.0 means every training window is told from every held-out one.

Attacks:
- `domias` (black box, from the synthetic set alone; van Breugel et al. 2023, DOMIAS): the
  density of the synthetic windows over the density of reference real windows at the candidate,
  log p_syn(x) - log p_ref(x), on the window features of `features.py`, standardised and reduced
  by PCA to at most `MAX_DIMS` dimensions (both fitted on the reference and synthetic sets only).
  Densities are nearest-neighbour estimates, p(x) ~ 1 / (n r(x)^d) with r(x) the distance to the
  nearest point of the set, so the score is d (log r_ref(x) - log r_syn(x)) plus a constant. A
  smoothed estimate (a Gaussian KDE with Scott's bandwidth, or k > 1 neighbours) spreads each
  synthetic window over much of the feature space with the tens to hundreds of windows an
  evaluation holds, and misses a generator that copies each training window once: on 40 copied
  windows of filtered noise against 40 fresh ones, AUC 0.64 with the KDE, 1.00 with the nearest
  neighbour (on fresh data against fresh data, 0.62 and 0.52).
  The reference is real data disjoint from the candidates (the first half of the held-out part
  of each recording; the second half gives the non-member candidates).
- `distance` (black box): minus the distance from the candidate to its nearest synthetic
  stretch at any time shift, the shape distance of `memorization.py` (what the DCR and the
  memorization check measure, turned into an attack).
- `tokenizer` and `prior` (white box, from the project's models; `white_box.py`): minus the
  tokenizer's reconstruction error, and minus the prior's loss on the window's codes.

Units. Per window: an equal number of member and non-member candidates (at most
`MAX_CANDIDATES` each). Per file: a recording is one unit, scored by the mean of its windows'
scores; membership per file needs files wholly in training and files wholly outside it, at least
`MIN_FILES` of each. The project's split is by time within each file (its end held out), so every
training recording is on both sides and per-file membership is not defined on it: recordings
never trained on (`--real`) supply non-member files, and the project's held-out windows are then
DOMIAS's reference. The interval treats windows as independent, which overlapping windows of one
recording are not: it is narrower than the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from vqstudio import distributed
from vqstudio.evaluation.features import window_features
from vqstudio.evaluation.memorization import shape_distances
from vqstudio.evaluation.roc import roc_summary
from vqstudio.events import Job, Progress, run_to_end

__all__ = [
    "ATTACKS",
    "MAX_CANDIDATES",
    "MAX_DIMS",
    "MIN_CANDIDATES",
    "MIN_FILES",
    "Candidates",
    "distance_scorer",
    "domias_scorer",
    "membership_inference",
    "membership_inference_job",
    "strongest",
]

MAX_CANDIDATES = 200  # per side: the distance attack searches the synthetic set for each
MIN_CANDIDATES = 10  # per side, below which no AUC is given
MIN_FILES = 5  # files per side, below which no per-file AUC is given
MAX_DIMS = 6  # feature dimensions kept: a few hundred points fill no more
PER_FILE = 30  # windows scored per file in the per-file attack

# key -> (title, definition)
ATTACKS: dict[str, tuple[str, str]] = {
    "domias": (
        "DOMIAS (synthetic density / real density)",
        "Black box, from the synthetic recordings alone: log density of the synthetic windows minus "
        "log density of reference real windows at the candidate (nearest-neighbour estimates on "
        "PCA-reduced window features); the reference is held-out data that is not a candidate.",
    ),
    "distance": (
        "Distance to the nearest synthetic window",
        "Black box: minus the shape distance sqrt(2(1-rho)) from the candidate to the closest synthetic "
        "stretch at any time shift (the distance the memorization check uses).",
    ),
    "tokenizer": (
        "Tokenizer reconstruction error",
        "White box, from the project's tokenizer: minus the mean squared error of the window encoded "
        "and decoded (normalised units).",
    ),
    "prior": (
        "Prior loss on the window's codes",
        "White box, from the project's prior: minus its loss on the window's codes (autoregressive: "
        "negative log-likelihood; diffusion: denoising loss at fixed times and noise).",
    ),
}

Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass
class Candidates:
    """Normalised `(n, channels, samples)` windows of each side, and the file of each window
    (None: files are not units here)."""

    members: np.ndarray
    non_members: np.ndarray
    member_files: Sequence[str] | None = None
    non_member_files: Sequence[str] | None = None


def domias_scorer(reference: np.ndarray, synthetic: np.ndarray, rate: float) -> Scorer:
    """The DOMIAS score `log p_syn(x) - log p_ref(x)` as a function of windows, fitted on the
    `reference` real windows and the `synthetic` windows (normalised, same shape)."""
    f_ref = window_features(reference, rate)
    f_syn = window_features(synthetic, rate)
    both = np.concatenate([f_ref, f_syn])
    mean, std = both.mean(axis=0), both.std(axis=0)
    keep = std > 1e-9 * max(float(np.abs(both).max()), 1.0)  # a constant feature says nothing
    mean, std = mean[keep], std[keep]
    z = (both[:, keep] - mean) / std
    # PCA on the pooled set: the directions where reference and synthetic vary, no candidate seen.
    _, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    rank = int((s > 1e-8 * max(float(s[0]), 1e-300)).sum()) if s.size else 0
    dims = max(1, min(MAX_DIMS, rank))
    basis = vt[:dims].T
    centre = z.mean(axis=0)

    def project(f: np.ndarray) -> np.ndarray:
        return ((f[:, keep] - mean) / std - centre) @ basis

    p_ref, p_syn = project(f_ref), project(f_syn)
    tree_ref, tree_syn = cKDTree(p_ref), cKDTree(p_syn)
    # A floor for a distance of 0 (a candidate that is itself in a set): far below any real one.
    floor = 1e-9 * max(float(np.abs(np.concatenate([p_ref, p_syn])).max()), 1e-300)

    def score(windows: np.ndarray) -> np.ndarray:
        p = project(window_features(windows, rate))
        r_ref, r_syn = tree_ref.query(p, 1)[0], tree_syn.query(p, 1)[0]
        return dims * (np.log(np.maximum(r_ref, floor)) - np.log(np.maximum(r_syn, floor)))

    return score


def distance_scorer(synthetic_pieces: Sequence[np.ndarray]) -> Scorer:
    """Minus the shape distance of each window to the nearest stretch of any of the
    `synthetic_pieces` (normalised `(channels, samples)` contiguous signals) at any shift."""

    def score(windows: np.ndarray) -> np.ndarray:
        d = np.full(len(windows), np.inf)
        for piece in synthetic_pieces:
            if piece.shape[1] >= windows.shape[2]:
                d = np.minimum(d, shape_distances(windows, piece))
        # A constant window has no shape (inf): as far as can be, so it is never called a member.
        finite = np.isfinite(d)
        return -np.where(finite, d, 2.0 if not finite.all() else 0.0)

    return score


def _file_summary(scores_m: np.ndarray, scores_n: np.ndarray, cand: Candidates) -> dict[str, Any]:
    """The per-file AUC from window scores: each file's mean score is one unit."""
    files_m = np.asarray(cand.member_files, dtype=object)
    files_n = np.asarray(cand.non_member_files, dtype=object)
    mean_m = np.array([scores_m[files_m == f].mean() for f in dict.fromkeys(files_m)])
    mean_n = np.array([scores_n[files_n == f].mean() for f in dict.fromkeys(files_n)])
    out = roc_summary(mean_m, mean_n)
    out["windows"] = {"members": len(scores_m), "non_members": len(scores_n)}
    return out


def membership_inference(attacks: dict[str, Scorer], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`membership_inference_job` run to its end (tests, scripts): the same arguments."""
    return run_to_end(membership_inference_job(attacks, *args, **kwargs))


def membership_inference_job(
    attacks: dict[str, Scorer],
    window: Candidates | None,
    per_file: Candidates | None,
    *,
    window_note: str = "",
    file_note: str = "",
    file_attacks: dict[str, Scorer] | None = None,
    unavailable: dict[str, str] | None = None,
    descriptions: dict[str, str] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Job[dict[str, Any]]:
    """Runs every attack of `attacks` (key -> scorer; ATTACKS names the known ones) on the
    window candidates and on the per-file candidates, and returns the JSON form: per attack its
    window and file figures (`roc.roc_summary`, or `skipped` with the reason), and the strongest
    attack. `window` / `per_file` None: that unit is not judged and `window_note` / `file_note`
    say why. `file_attacks` replace scorers for the per-file unit (DOMIAS with another
    reference); `unavailable` (key -> why) lists attacks that cannot run at all (no prior yet);
    `descriptions` replace an attack's definition (e.g. which prior loss). `stop()` true ends the
    run between attacks (those left are marked as not run). Yields a `Progress` (stage
    "membership") before each attack."""
    out: dict[str, Any] = {"window_note": window_note, "file_note": file_note, "attacks": {}}
    # In the order of ATTACKS, whatever order the caller gave.
    keys = [*attacks, *(unavailable or {})]
    keys.sort(key=lambda k: list(ATTACKS).index(k) if k in ATTACKS else len(ATTACKS))
    start = time.perf_counter()
    for i, key in enumerate(keys):
        yield Progress("membership", i, len(keys), time.perf_counter() - start, None, i / len(keys), {}, 0.0)
        title, definition = ATTACKS.get(key, (key, ""))
        entry: dict[str, Any] = {"title": title, "definition": (descriptions or {}).get(key, definition)}
        out["attacks"][key] = entry
        if key not in attacks:
            entry["window"] = entry["file"] = {"skipped": (unavailable or {})[key]}
            continue
        if stop is not None and stop():
            entry["window"] = entry["file"] = {"skipped": "the evaluation was stopped before this attack"}
            continue
        entry["window"] = _judge(attacks[key], window, window_note, per_file=False)
        file_scorer = (file_attacks or {}).get(key, attacks[key])
        entry["file"] = _judge(file_scorer, per_file, file_note, per_file=True)
    out["strongest"] = strongest(out["attacks"])
    elapsed = time.perf_counter() - start
    yield Progress("membership", len(keys), len(keys), elapsed, 0.0, 1.0, {}, 0.0)
    return out


def _judge(scorer: Scorer, cand: Candidates | None, note: str, per_file: bool) -> dict[str, Any]:
    if cand is None:
        return {"skipped": note or "not judged"}
    try:
        # Each window's score is its own: the processes of a distributed evaluation share them.
        s_m = np.asarray(distributed.spread(scorer, cand.members), dtype=np.float64)
        s_n = np.asarray(distributed.spread(scorer, cand.non_members), dtype=np.float64)
    except (np.linalg.LinAlgError, ValueError) as e:  # e.g. features that hold no number
        return {"skipped": f"could not be computed: {e}"}
    if not (np.isfinite(s_m).all() and np.isfinite(s_n).all()):
        return {"skipped": "could not be computed: the scores are not finite"}
    return _file_summary(s_m, s_n, cand) if per_file else roc_summary(s_m, s_n)


def strongest(attacks: dict[str, Any]) -> dict[str, Any] | None:
    """The attack with the highest window AUC (key, title, figures), or None when none has one."""
    best = None
    for key, entry in attacks.items():
        w = entry.get("window") or {}
        if w.get("auc") is not None and (best is None or w["auc"] > best[1]["auc"]):
            best = (key, w)
    if best is None:
        return None
    key, w = best
    return {
        "attack": key,
        "title": attacks[key]["title"],
        **{k: w[k] for k in ("auc", "auc_ci95", "tpr_at_1pct_fpr", "fpr_resolution")},
    }
