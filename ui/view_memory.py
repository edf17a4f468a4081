"""What the viewer remembers between sessions, as EDFbrowser and MNE's browser do.

Per recording file: the bad channels, the reference, the hidden channels and the display
filters (a 1 Hz high-pass chosen for an EEG file must not reach a CSV's respiration channel),
stored under the file's sha256 when the recording already knows it (never computed here:
hashing a large file takes seconds) and under its absolute path; a recording that is no file
(the demo, a generated one) keeps them for the run. A file shown for the first time has no
filter. For every file: channels per page, page length, the trace options and the amplitude
scales the user chose, per kind of unit (uV, mV...).

`ViewMemory` saves a file's state when the viewer leaves it (another file shown, the file
closed, the window closed) and restores it when the file is shown again, in this run or a later
one. Restoring never fails on what is stale: a channel the file no longer has is ignored, and
an unreadable entry is as good as none.
"""

from __future__ import annotations

import math
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from ui.session import OpenFile
from ui.settings import Settings
from ui.view_filters import ViewFilters
from ui.view_reference import Reference, unit_kind
from ui.view_traces import TraceOptions
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


def _frequency(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None


def _filters(value: Any) -> ViewFilters:
    """Filters from [highpass, lowpass, notch]; what does not read is no filter."""
    try:
        return ViewFilters(*(_frequency(v) for v in value)) if isinstance(value, list) else ViewFilters()
    except (TypeError, ValueError):
        return ViewFilters()


@dataclass
class FileView:
    """One file's viewer state: bad channels, reference, hidden channels (channel names) and
    display filters (the corners, and whether they are on)."""

    bad: list[str] = field(default_factory=list)
    reference: Reference = field(default_factory=Reference)
    hidden: list[str] = field(default_factory=list)
    filters: ViewFilters = field(default_factory=ViewFilters)
    filters_on: bool = True

    @property
    def is_default(self) -> bool:
        """Nothing to remember: no bad or hidden channel, the signals as recorded, no filter."""
        plain = self.reference.kind == "none" and not self.filters.active
        return not self.bad and not self.hidden and plain

    def to_dict(self) -> dict[str, Any]:
        ref, f = self.reference, self.filters
        return {
            "bad": self.bad,
            "reference": [ref.kind, ref.channel],
            "montage": {"name": ref.name, "pairs": [list(p) for p in ref.pairs]},
            "hidden": self.hidden,
            "filters": [f.highpass, f.lowpass, f.notch],
            "filters_on": self.filters_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileView:
        """The state in `data`; a field that does not read is left at its default."""
        try:
            kind, channel = data.get("reference") or ("none", "")
            montage = data.get("montage") if kind == "bipolar" else None
            pairs = tuple((str(a), str(b)) for a, b in montage["pairs"]) if montage else ()
            name = str(montage.get("name", "")) if montage else ""
            reference = Reference(str(kind), str(channel), pairs, name)
        except (TypeError, ValueError, KeyError, AttributeError):
            reference = Reference()
        filters = _filters(data.get("filters"))
        on = data.get("filters_on") is not False
        return cls(_names(data.get("bad")), reference, _names(data.get("hidden")), filters, on)

    @classmethod
    def of(cls, viewer: SignalViewer) -> FileView:
        """What `viewer` shows now of its recording."""
        shown = set(viewer.shown_channels)
        names = [c.name for c in viewer.recording.channels] if viewer.recording else []
        filters, on = viewer.chosen_filters
        hidden = [n for n in names if n not in shown]
        return cls(sorted(viewer.bad_channels), viewer.reference, hidden, filters, on)


class ViewMemory:
    """Remembers `viewer`'s per-file and display-wide state in `settings`; restores the
    display choices at once."""

    def __init__(self, viewer: SignalViewer, settings: Settings) -> None:
        self.viewer = viewer
        self.settings = settings
        self._keys: list[str] = []  # of the file shown
        # Recordings that are no file (the demo, generated ones): their state for this run, by id
        # with a weak reference (a closed recording is freed; a reused id is told apart).
        self._in_memory: dict[int, tuple[weakref.ref[Recording], FileView]] = {}
        self._scales_shown: dict[str, float] = {}  # the scales as restored, to see the user's changes
        self.restore_display()

    # --- display-wide --------------------------------------------------------------------------
    def restore_display(self) -> None:
        """Channels per page, page length and trace options as last chosen (stale values are
        skipped). Filters belong to each file (`show`)."""
        prefs = self.settings.display_prefs()
        options = TraceOptions(prefs.get("remove_dc") is not False, prefs.get("clip_to_row") is True)
        if options != self.viewer.trace_options:
            self.viewer.set_trace_options(options)
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
        scales = self._stored_scales()
        for unit, scale in self.viewer.scales.items():
            if scale != self._scales_shown.get(unit, scale):
                scales[unit_kind(unit)] = scale
        self._scales_shown = self.viewer.scales
        self.settings.set_display_prefs(
            {
                "rows": self.viewer.rows_setting,
                "scales": scales,
                "remove_dc": self.viewer.trace_options.remove_dc,
                "clip_to_row": self.viewer.trace_options.clip_to_row,
            }
        )
        self.settings.set_page_length(self.viewer.page_length)

    # --- per file ------------------------------------------------------------------------------
    def save(self) -> None:
        """Stores the display choices and the state of the file shown."""
        self.save_display()
        recording = self.viewer.recording
        if recording is None:
            return
        view = FileView.of(self.viewer)
        if self._keys:
            self.settings.set_file_view(self._keys, None if view.is_default else view.to_dict())
        else:
            self._in_memory = {k: v for k, v in self._in_memory.items() if v[0]() is not None}
            self._in_memory[id(recording)] = (weakref.ref(recording), view)

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
        self.viewer.set_filters(ViewFilters())  # a file shown for the first time: none
        stored = self._stored_scales()
        for unit in self.viewer.scales:
            if unit_kind(unit) in stored:
                self.viewer.set_scale(unit, stored[unit_kind(unit)])
        self._scales_shown = self.viewer.scales
        kept = self._in_memory.get(id(recording))
        data = self.settings.file_view(self._keys) if self._keys else None
        if kept is not None and kept[0]() is recording:
            self._restore_file(file, kept[1])
        elif data is not None:
            self._restore_file(file, FileView.from_dict(data))

    def _restore_file(self, file: OpenFile, view: FileView) -> None:
        names = [c.name for c in file.recording.channels]
        hidden = set(view.hidden) & set(names)
        if hidden and len(hidden) < len(names):
            self.viewer.set_visible_channels([n for n in names if n not in hidden])
        if view.reference.kind != "channel" or view.reference.channel in names:
            self.viewer.set_reference(view.reference)
        if view.filters.active:
            self.viewer.set_filters(view.filters)
            if not view.filters_on:
                self.viewer.set_filters_enabled(False)
        bad = set(view.bad) & set(names)
        if bad and not file.bad_channels:
            file.bad_channels = bad
