"""The pairs dialog: a bipolar montage of the user's own, one pair 'A-B' a line.

The text can be typed or pasted (a montage kept elsewhere), filled with the double banana, or
built pair by pair from two lists of the recording's channels. Under the text the dialog says,
as the text changes, how many rows the pairs make and which pairs the recording cannot make;
OK needs at least one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.view_montage import DOUBLE_BANANA, bipolar_channels, format_pairs, parse_pairs
from ui.view_reference import Reference
from vqstudio.recording import Recording

if TYPE_CHECKING:
    from ui.viewer import SignalViewer

__all__ = ["MontageDialog", "ask_montage"]


class MontageDialog(QDialog):
    """Asks for the pairs of a bipolar montage on `recording`; `pairs()` after `exec()`."""

    def __init__(
        self, recording: Recording, pairs: Sequence[tuple[str, str]] = (), parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Bipolar montage")
        self.recording = recording
        names = [c.name for c in recording.channels]
        self.text = QPlainTextEdit(format_pairs(pairs) if pairs else "")
        self.text.setPlaceholderText("Fp1-F7\nF7-T7\n...")
        self.text.textChanged.connect(self._check)
        self.first, self.second = QComboBox(), QComboBox()
        for box in (self.first, self.second):
            box.addItems(names)
        add = QPushButton("Add pair")
        add.clicked.connect(self.add_pair)
        banana = QPushButton("Double banana")
        banana.setToolTip("The standard longitudinal bipolar montage of the 10-20 system")
        banana.clicked.connect(lambda: self.text.setPlainText(format_pairs(DOUBLE_BANANA)))
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        builder = QHBoxLayout()
        builder.addWidget(self.first, 1)
        builder.addWidget(QLabel("minus"))
        builder.addWidget(self.second, 1)
        builder.addWidget(add)
        builder.addWidget(banana)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("One row per pair: the first channel minus the second, one pair a line (Fp1-F7).")
        )
        layout.addWidget(self.text, 1)
        layout.addLayout(builder)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(480, 420)
        self._check()

    def add_pair(self) -> None:
        """Appends the pair chosen in the two lists."""
        line = format_pairs([(self.first.currentText(), self.second.currentText())])
        text = self.text.toPlainText().rstrip("\n")
        self.text.setPlainText(f"{text}\n{line}" if text else line)

    def pairs(self) -> list[tuple[str, str]]:
        """The pairs typed (those the recording cannot make included: the viewer says so)."""
        try:
            return parse_pairs(self.text.toPlainText())
        except ValueError:
            return []

    def _check(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            pairs = parse_pairs(self.text.toPlainText())
        except ValueError as error:
            self.status.setText(str(error))
            ok.setEnabled(False)
            return
        montage = bipolar_channels(self.recording, pairs)
        made = len(montage.channels)
        text = f"{made} row(s)"
        if montage.missing:
            text += "; " + montage.describe_missing()
        self.status.setText(text)
        ok.setEnabled(made > 0)


def ask_montage(viewer: SignalViewer) -> None:
    """Asks the pairs of a bipolar montage on `viewer`'s recording (the pairs shown now, if a
    montage is), and shows it; a cancel leaves the viewer's reference as it was."""
    current = viewer.reference
    if viewer.recording is None:
        viewer.display.show_reference(current)
        return
    dialog = MontageDialog(viewer.recording, current.pairs if current.kind == "bipolar" else (), viewer)
    if dialog.exec():
        viewer.set_reference(Reference("bipolar", pairs=tuple(dialog.pairs()), name="my pairs"))
    else:
        viewer.display.show_reference(current)
