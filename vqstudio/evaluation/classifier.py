"""A small, deterministic classifier: L2-regularised multinomial logistic regression in numpy.

Why this and not a neural network: it trains in well under a second on the CPU, has no
random initialisation (the loss is convex, so the fit is the same on every machine), needs
no torch, and works on the interpretable features of `features.py`. It is weaker than a
convolutional network trained on raw samples, so a discriminative score it reports is a LOWER
bound on how detectable the synthetic data is: a good score means "this classifier cannot tell",
not "nothing can".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, softmax

MAX_DIMS = 400  # features (or principal axes) the Newton fit works in

__all__ = ["LogisticRegression", "binomial_se", "stratified_folds", "wilson_interval"]


@dataclass
class LogisticRegression:
    """Softmax regression on features z-scored with the training set's mean and std.

    Minimises mean cross-entropy + (alpha / 2) * ||W||^2 (biases not penalised) by Newton's
    method with backtracking; the first class is the reference (its logit is 0), so the
    problem is strictly convex and the solution unique. Exact Hessians are cheap at the sizes
    used here (a few hundred features, up to a few thousand windows).
    """

    alpha: float = 0.05
    max_iter: int = 50

    def fit(self, features: np.ndarray, labels: np.ndarray) -> LogisticRegression:
        x = np.asarray(features, dtype=np.float64)
        self.classes_, y = np.unique(np.asarray(labels), return_inverse=True)
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0)
        self.scale_[self.scale_ < 1e-12] = 1.0
        n, d_full = x.shape
        z = (x - self.mean_) / self.scale_
        # With more features than windows the penalised solution lies in the span of the
        # (centred) training rows, so fitting in the coordinates of its principal axes gives the
        # same model at a fraction of the cost. Beyond MAX_DIMS axes, the weakest are dropped.
        self.basis_: np.ndarray | None = None
        if d_full > min(n, MAX_DIMS):
            _, sv, vt = np.linalg.svd(z, full_matrices=False)
            keep = int(min(MAX_DIMS, (sv > 1e-9 * max(sv[0], 1e-300)).sum()))
            self.basis_ = vt[: max(keep, 1)].T
            z = z @ self.basis_
        d = z.shape[1]
        z = np.hstack([z, np.ones((n, 1))])  # last column: bias
        k = max(len(self.classes_), 2) - 1  # free classes
        onehot = np.eye(k + 1)[y][:, 1:]
        penalty = np.r_[np.full(d, self.alpha), 0.0]

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            logp = log_softmax(np.hstack([np.zeros((n, 1)), z @ w]), axis=1)
            return -logp[np.arange(n), y].mean() + 0.5 * (penalty[:, None] * w**2).sum(), np.exp(logp[:, 1:])

        w = np.zeros((d + 1, k))
        value, p = objective(w)
        for _ in range(self.max_iter):
            grad = z.T @ (p - onehot) / n + penalty[:, None] * w
            if np.abs(grad).max() < 1e-7:
                break
            hess = np.empty((k, d + 1, k, d + 1))
            for a in range(k):
                for b in range(a, k):
                    weight = p[:, a] * ((a == b) - p[:, b])
                    block = (z * weight[:, None]).T @ z / n
                    hess[a, :, b, :] = block
                    hess[b, :, a, :] = block
                hess[a, :, a, :] += np.diag(penalty + 1e-9)
            size = k * (d + 1)
            step = np.linalg.solve(hess.reshape(size, size), grad.T.ravel()).reshape(k, d + 1).T
            slope = float((grad * step).sum())
            t = 1.0
            while True:  # backtracking (Armijo) line search
                new_value, new_p = objective(w - t * step)
                if new_value <= value - 1e-4 * t * slope or t < 1e-8:
                    break
                t *= 0.5
            w, value, p = w - t * step, new_value, new_p
        coef = w[:d] if self.basis_ is None else self.basis_ @ w[:d]
        self.coef_ = np.hstack([np.zeros((d_full, 1)), coef])
        self.intercept_ = np.r_[0.0, w[d]]
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float64) - self.mean_) / self.scale_
        return softmax(z @ self.coef_ + self.intercept_, axis=1)

    def predict(self, features: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(features)
        index = proba.argmax(axis=1)
        # With one class in training, the padded second column never wins.
        return self.classes_[np.minimum(index, len(self.classes_) - 1)]


def stratified_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number in [0, k) for each item, every label spread evenly over the folds."""
    labels = np.asarray(labels)
    folds = np.empty(labels.size, dtype=int)
    offset = 0
    for value in np.unique(labels):
        idx = rng.permutation(np.nonzero(labels == value)[0])
        folds[idx] = (np.arange(idx.size) + offset) % k
        offset += idx.size
    return folds


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on n independent test items: sqrt(p(1-p)/n)."""
    return float(np.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(n, 1)))


def wilson_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy over n test items. Unlike p +/- 1.96 SE it
    stays inside [0, 1] and does not collapse to a point at 0 % or 100 % correct."""
    if n <= 0:
        return (0.0, 1.0)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))
