"""The differential-privacy choices of a run, torch-free (the GUI and the CLI check them before
torch loads): the target epsilon, delta and the unit of privacy, their ranges, and how a stored
project's record gives them back. The mechanism itself is `vqstudio.training.private`.
"""

from __future__ import annotations

from typing import Any

from vqstudio.project.record import ProjectRecord
from vqstudio.ranges import Range

__all__ = [
    "DP_EPSILON",
    "DP_UNITS",
    "check_privacy_settings",
    "privacy_settings_of",
]

# What one unit of privacy is: a training window (each window is sampled on its own), or a
# recording (each file: its windows are sampled together and clipped as one).
DP_UNITS = ("window", "recording")
# Epsilon a run may target. Below 0.1 the noise drowns any model; above 100 the bound says little.
DP_EPSILON = Range(0.1, 100.0, 10.0)


def check_privacy_settings(epsilon: float | None, delta: float | None, unit: str) -> None:
    """Raises `ValueError` (naming the option) for an epsilon, delta or unit out of range."""
    if unit not in DP_UNITS:
        raise ValueError(f"--dp-unit must be one of {', '.join(DP_UNITS)}, got '{unit}'")
    if epsilon is None:
        if delta is not None:
            raise ValueError("--dp-delta needs --dp-epsilon (differential privacy is off without it)")
        return
    DP_EPSILON.check(epsilon, "--dp-epsilon")
    if delta is not None and not 0 < delta < 1:
        raise ValueError(f"--dp-delta must be between 0 and 1 (e.g. 1e-5), got {delta}")


def privacy_settings_of(record: ProjectRecord) -> dict[str, Any]:
    """The `TrainSettings` fields of a stored project's privacy (empty when trained without)."""
    privacy = record.privacy
    if not privacy:
        return {}
    return {
        "dp_epsilon": float(privacy["target_epsilon"]),
        "dp_delta": float(privacy["delta"]),
        "dp_unit": str(privacy.get("unit", "window")),
    }
