"""What the viewer remembers between sessions, as EDFbrowser and MNE's browser do.

Per recording file: the bad channels, the reference and the hidden channels, stored under the
file's sha256 when the recording already knows it (never computed here: hashing a large file
takes seconds) and under its absolute path. For every file: the display filters, channels per
page, page length and the amplitude scales the user chose, per kind of unit (uV, mV...).

`ViewMemory` saves a file's state when the viewer leaves it (another file shown, the file
closed, the window closed) and restores it when the file is shown again, in this run or a later
one. Restoring never fails on what is stale: a channel the file no longer has is ignored, and
an unreadable entry is as good as none.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from ui.session import OpenFile
from ui.settings import Settings
from ui.view_filters import ViewFilters
from ui.view_reference import Reference, unit_kind
from ui.viewer import PAGE_LENGTHS, SignalViewer
from ui.viewer_controls import ROWS_CHOICES
from vqstudio.recording import Recording

__all__ = ["FileView", "ViewMemory", "file_keys"]


def file_keys(recording: Recording, path: str | None = None) -> list[str]:
    """The keys a file's state is stored under: its sha256 when already known, its absolute
    path; [] for a recording that is not a file."""
    keys = []
    digest = recording._sha256  # only when cheap: Recording.sha256 would read the whole file
    if digest:
        keys.append(f"sha256:{digest}")
    path = path or (recording.source.path if recording.source else None)
    if path and os.path.isfile(path):
        keys.append(f"path:{os.path.abspath(path)}")
    return keys


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass
class FileView:
    """One file's viewer state: bad channels, reference, hidden channels (channel names)."""

    bad: list[str] = field(default_factory=list)
    reference: Reference = field(default_factory=Reference)
    hidden: list[str] = field(default_factory=list)

    @property
    def is_default(self) -> bool:
        """Nothing to remember: no bad or hidden channel, the signals as recorded."""
        return not self.bad and not self.hidden and self.reference.kind == "none"

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference
        return {"bad": self.bad, "reference": [ref.kind, ref.channel], "hidden": self.hidden}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileView:
        """The state in `data`; a field that does not read is left at its default."""
        try:
            kind, channel = data.get("reference") or ("none", "")
            reference = Reference(str(kind), str(channel))
        except (TypeError, ValueError):
            reference = Reference()
        return cls(_names(data.get("bad")), reference, _names(data.get("hidden")))

    @classmethod
    def of(cls, viewer: SignalViewer) -> FileView:
        """What `viewer` shows now of its recording."""
        shown = set(viewer.shown_channels)
        names = [c.name for c in viewer.recording.channels] if viewer.recording else []
        return cls(sorted(viewer.bad_channels), viewer.reference, [n for n in names if n not in shown])


def _frequency(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None


class ViewMemory:
    """Remembers `viewer`'s per-file and display-wide state in `settings`; restores the
    display choices at once."""

    def __init__(self, viewer: SignalViewer, settings: Settings) -> None:
        self.viewer = viewer
        self.settings = settings
        self._keys: list[str] = []  # of the file shown
        self._scales_shown: dict[str, float] = {}  # the scales as restored, to see the user's changes
        self.restore_display()

    # --- display-wide --------------------------------------------------------------------------
    def restore_display(self) -> None:
        """Filters, channels per page and page length as last chosen (stale values are skipped)."""
        prefs = self.settings.display_prefs()
        try:
            filters = ViewFilters(*(_frequency(prefs.get(k)) for k in ("highpass", "lowpass", "notch")))
        except ValueError:
            filters = ViewFilters()
        if filters.active:
            self.viewer.set_filters(filters)
            if prefs.get("filters_on") is False:
                self.viewer.set_filters_enabled(False)
        if prefs.get("rows") in ROWS_CHOICES:
            self.viewer.set_channels_per_page(int(prefs["rows"]))
        if self.settings.page_length() in PAGE_LENGTHS:
            self.viewer.set_page_length(self.settings.page_length())

    def _stored_scales(self) -> dict[str, float]:
        scales = self.settings.display_prefs().get("scales")
        if not isinstance(scales, dict):
            return {}
        return {str(u): float(s) for u, s in scales.items() if _frequency(s) is not None}

    def save_display(self) -> None:
        """Stores the display choices; a unit's scale only once the user changed it (the others
        keep scaling to each recording)."""
        filters, on = self.viewer.chosen_filters
        scales = self._stored_scales()
        for unit, scale in self.viewer.scales.items():
            if scale != self._scales_shown.get(unit, scale):
                scales[unit_kind(unit)] = scale
        self._scales_shown = self.viewer.scales
        self.settings.set_display_prefs(
            {
                "highpass": filters.highpass,
                "lowpass": filters.lowpass,
                "notch": filters.notch,
                "filters_on": on,
                "rows": self.viewer.rows_setting,
                "scales": scales,
            }
        )
        self.settings.set_page_length(self.viewer.page_length)

    # --- per file ------------------------------------------------------------------------------
    def save(self) -> None:
        """Stores the display choices and the state of the file shown."""
        self.save_display()
        if self._keys and self.viewer.recording is not None:
            view = FileView.of(self.viewer)
            self.settings.set_file_view(self._keys, None if view.is_default else view.to_dict())

    def show(self, file: OpenFile | None) -> None:
        """Shows `file` in the viewer. When it is not the recording shown: stores the state of
        the one left, then restores the scales and `file`'s state; its stored bad channels go
        into `file.bad_channels` unless it has some already (the caller passes them on)."""
        recording = file.recording if file else None
        if recording is self.viewer.recording:
            self.viewer.set_recording(recording, "")
            return
        self.save()
        self.viewer.set_recording(recording, "")
        self._keys = file_keys(recording, file.path) if file and recording else []
        if file is None or recording is None:
            return
        stored = self._stored_scales()
        for unit in self.viewer.scales:
            if unit_kind(unit) in stored:
                self.viewer.set_scale(unit, stored[unit_kind(unit)])
        self._scales_shown = self.viewer.scales
        data = self.settings.file_view(self._keys)
        if data is not None:
            self._restore_file(file, FileView.from_dict(data))

    def _restore_file(self, file: OpenFile, view: FileView) -> None:
        names = [c.name for c in file.recording.channels]
        hidden = set(view.hidden) & set(names)
        if hidden and len(hidden) < len(names):
            self.viewer.set_visible_channels([n for n in names if n not in hidden])
        if view.reference.kind != "channel" or view.reference.channel in names:
            self.viewer.set_reference(view.reference)
        bad = set(view.bad) & set(names)
        if bad and not file.bad_channels:
            file.bad_channels = bad
