"""Standard 10-20 / 10-10 electrode names and their positions on a flat head map. No Qt here.

A channel is matched to an electrode by its label (`electrode_name`): 'EEG Fp1', 'Fp1-REF',
'FC5.', 'fc5' and the old 'T3' (now T7) all name an electrode; 'EEG Fpz-Cz' (a bipolar
derivation) and 'ECG' name none.

Positions follow the 10-20 rule on a spherical head: Cz at the vertex, the ring through Fpz,
T7, Oz and T8 at 72 degrees from it (10 % of the nasion-inion arc above the nasion), each
row's electrodes spread evenly along the arc from its midline electrode to the ring (F3 half
way from Fz to F7). The flat map is the azimuthal equidistant projection that topographic maps
use: distance from the centre is the angle from Cz (the ring at radius 0.8), the nose up, the
left hemisphere on the left.
"""

from __future__ import annotations

import math
import re

import numpy as np

from vqstudio.recording import clean_label

__all__ = ["HEAD_RADIUS", "OLD_NAMES", "POSITIONS", "REFERENCE_NAMES", "electrode_name", "position"]

RING_DEG = 72.0  # the ring (Fpz, T7, Oz, T8) lies 72 degrees from Cz
HEAD_RADIUS = 0.85  # the head outline on the map, a little outside the ring (radius 0.8)
OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}  # 10-20 names of 10-10 sites
REFERENCE_NAMES = ("A1", "A2", "M1", "M2", "REF", "LE", "RE", "AR", "AVG", "CAR")

# Row prefix: (angle of its midline electrode from Cz, front positive; azimuth of its
# electrode on the ring, from the front; how many steps from the midline to the ring).
_ROWS: dict[str, tuple[float, float, int]] = {
    "FP": (72.0, 18.0, 1),
    "AF": (54.0, 36.0, 4),
    "F": (36.0, 54.0, 4),
    "FC": (18.0, 72.0, 4),
    "FT": (18.0, 72.0, 4),
    "C": (0.0, 90.0, 4),
    "T": (0.0, 90.0, 4),
    "CP": (-18.0, 108.0, 4),
    "TP": (-18.0, 108.0, 4),
    "P": (-36.0, 126.0, 4),
    "PO": (-54.0, 144.0, 4),
    "O": (-72.0, 162.0, 1),
}
# How the 10-10 system spells each row (Fp and the midline 'z' in lower case).
_SPELLING = {"FP": "Fp", "AF": "AF", "F": "F", "FC": "FC", "FT": "FT", "C": "C", "T": "T"}
_SPELLING.update({"CP": "CP", "TP": "TP", "P": "P", "PO": "PO", "O": "O"})


def _vector(polar_deg: float, azimuth_deg: float) -> np.ndarray:
    """A unit vector: `polar_deg` from the vertex, `azimuth_deg` from the nose (right positive)."""
    p, a = math.radians(polar_deg), math.radians(azimuth_deg)
    return np.array([math.sin(p) * math.sin(a), math.sin(p) * math.cos(a), math.cos(p)])


def _slerp(u: np.ndarray, v: np.ndarray, t: float) -> np.ndarray:
    angle = math.acos(float(np.clip(u @ v, -1.0, 1.0)))
    if angle < 1e-9:
        return u
    return (math.sin((1 - t) * angle) * u + math.sin(t * angle) * v) / math.sin(angle)


def _flat(vector: np.ndarray) -> tuple[float, float]:
    """The azimuthal equidistant projection: radius = angle from Cz / 90 degrees."""
    polar = math.degrees(math.acos(float(np.clip(vector[2], -1.0, 1.0))))
    horizontal = math.hypot(vector[0], vector[1])
    if horizontal < 1e-12:
        return 0.0, 0.0
    r = polar / 90.0
    return r * vector[0] / horizontal, r * vector[1] / horizontal


def _row_sites(prefix: str) -> dict[str, tuple[float, float]]:
    """Every electrode of one row: the midline ('Fz'), 1-8 and 9-10 (below the ring)."""
    midline_deg, ring_azimuth, steps = _ROWS[prefix]
    spelled = _SPELLING[prefix]
    midline = _vector(abs(midline_deg), 0.0 if midline_deg >= 0 else 180.0)
    sites = {f"{spelled}z": _flat(midline)}
    for number in range(1, 11):
        step = (number + 1) // 2
        if step > steps + 1 or (steps == 1 and step > 1):
            continue
        side = -1.0 if number % 2 else 1.0  # odd numbers on the left
        ring = _vector(RING_DEG, side * ring_azimuth)
        # 9 and 10 lie below the ring, at the level of the nasion and the ears.
        below = _vector(90.0, side * ring_azimuth)
        point = _slerp(midline, ring, step / steps) if step <= steps else below
        sites[f"{spelled}{number}"] = _flat(point)
    return sites


def _positions() -> dict[str, tuple[float, float]]:
    sites: dict[str, tuple[float, float]] = {}
    for prefix in _ROWS:
        for name, xy in _row_sites(prefix).items():
            sites.setdefault(name, xy)  # T7 is also C-row step 4 ('C7' is no electrode)
    # The C row's ring electrodes are T7/T8 (and T9/T10); drop the names no system uses.
    for number in (7, 8, 9, 10):
        sites.pop(f"C{number}", None)
    for prefix in ("FT", "TP"):  # only their outer electrodes (FT7, TP9...) are in use
        for number in range(1, 7):
            sites.pop(f"{prefix}{number}", None)
        sites.pop(f"{prefix}z", None)
    for prefix in ("FC", "CP"):  # their outer sites are named FT7, TP7... instead
        for number in (7, 8, 9, 10):
            sites.pop(f"{prefix}{number}", None)
    sites.pop("Tz", None)
    for number in range(1, 7):
        sites.pop(f"T{number}", None)
    sites["Nz"] = _flat(_vector(90.0, 0.0))
    sites["Iz"] = _flat(_vector(90.0, 180.0))
    for name, side in (("A1", -1), ("A2", 1), ("M1", -1), ("M2", 1)):
        sites[name] = _flat(_vector(105.0, side * 90.0 + (0.0 if name[0] == "A" else side * 15.0)))
    return sites


POSITIONS: dict[str, tuple[float, float]] = _positions()
_BY_UPPER = {name.upper(): name for name in POSITIONS}
_PREFIXES = re.compile(r"^(EEG|EOG)[\s_-]+", re.IGNORECASE)


def _site(text: str) -> str | None:
    text = text.strip().upper()
    text = OLD_NAMES.get(text, text)
    return _BY_UPPER.get(text)


def electrode_name(label: str) -> str | None:
    """The 10-10 electrode a channel label names, spelled the standard way ('Fp1', 'FCz'), or
    None (an ECG lead, a bipolar derivation such as 'Fpz-Cz', an unknown name).

    A reference named after the electrode ('Fp1-REF', 'C3-A2', 'EEG Cz-LE') still names it.
    """
    text = _PREFIXES.sub("", clean_label(label)).strip()
    parts = [p for p in re.split(r"\s*-\s*", text) if p]
    if len(parts) == 2 and parts[1].upper() in REFERENCE_NAMES:
        parts = parts[:1]
    return _site(parts[0]) if len(parts) == 1 else None


def position(name: str) -> tuple[float, float] | None:
    """The map position of electrode `name` (any spelling `electrode_name` reads), or None."""
    site = electrode_name(name)
    return POSITIONS.get(site) if site else None
