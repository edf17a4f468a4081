"""What a project's differential privacy is, in words: the line `vqstudio info`, the train and
evaluate commands and the app show, and the note a generated file's annotations carry. Reads the
record's `privacy` (written by `vqstudio.training.private`); torch-free."""

from __future__ import annotations

from typing import Any

__all__ = ["describe_privacy", "privacy_note"]


def describe_privacy(privacy: dict[str, Any] | None) -> str:
    """One line for `vqstudio info`, the log and the app: what a project's guarantee is."""
    if not privacy:
        return "differential privacy: off (no formal guarantee; see the membership-inference figures)"
    spent = privacy.get("epsilon")
    spent_text = f"{spent:.3g}" if isinstance(spent, int | float) else "none yet"
    unit = privacy.get("unit", "window")
    return (
        f"differential privacy: epsilon {spent_text} spent of {privacy['target_epsilon']:g} at delta "
        f"{privacy['delta']:.3g}, per {unit} ({privacy.get('units', '?')} {unit}s), noise multiplier "
        f"{privacy.get('noise_multiplier', 0):.3g}, clipping norm {privacy.get('clip', 0):g}"
    )


def privacy_note(privacy: dict[str, Any]) -> str:
    """The short words a generated file's annotations carry: the epsilon spent, delta, the unit."""
    return (
        f"differential privacy epsilon {privacy.get('epsilon', 0):.3g} at delta {privacy['delta']:.2g} "
        f"per {privacy.get('unit', 'window')}"
    )
