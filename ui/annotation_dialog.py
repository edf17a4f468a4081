"""The annotation dialog: onset, duration and text of one annotation, new or edited.

The text box offers the texts the recording already uses ('Sleep stage 2', 'blink'), so marking
the same kind of event again is a pick, not a retype. OK needs a text.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QWidget,
)

from vqstudio.recording import Annotation

__all__ = ["AnnotationDialog"]


def _seconds(value: float, maximum: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(3)
    box.setRange(0.0, max(maximum, value))
    box.setSuffix(" s")
    box.setValue(value)
    return box


class AnnotationDialog(QDialog):
    """Asks for an annotation; `annotation()` after `exec()`."""

    def __init__(
        self,
        annotation: Annotation,
        duration_s: float,
        texts: Sequence[str] = (),
        title: str = "Annotation",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.onset = _seconds(annotation.onset, duration_s)
        self.duration = _seconds(annotation.duration, duration_s)
        self.duration.setToolTip("0 for an instant (a blink, a stimulus)")
        self.text = QComboBox()
        self.text.setEditable(True)
        self.text.addItems(list(dict.fromkeys(t for t in texts if t)))
        self.text.setCurrentText(annotation.text)
        self.text.setMinimumContentsLength(24)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.text.editTextChanged.connect(self._check)
        form = QFormLayout(self)
        form.addRow("Text", self.text)
        form.addRow("Onset", self.onset)
        form.addRow("Duration", self.duration)
        form.addRow(self.buttons)
        self._check()

    def _check(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.text.currentText().strip()))

    def annotation(self) -> Annotation:
        """The annotation as the fields say."""
        return Annotation(
            round(self.onset.value(), 6), round(self.duration.value(), 6), self.text.currentText().strip()
        )
