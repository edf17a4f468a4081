"""Light and dark themes: Fusion with a palette, following the desktop's colour scheme (Qt 6.5+).

`apply_theme(app, "system")` reads `QStyleHints.colorScheme()`; the main window re-applies it
when the desktop switches (`colorSchemeChanged`). Plots take their colours from `is_dark()`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["PLOT_COLORS", "apply_theme", "is_dark", "resolve"]

# Colours of series in plots (losses, real vs generated), readable on both backgrounds.
PLOT_COLORS = ("#4c9be8", "#e8704c", "#5cb85c", "#c678dd", "#e5c07b", "#56b6c2", "#d19a66", "#98c379")


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return bool(scheme and scheme() == Qt.ColorScheme.Dark)


def resolve(choice: str) -> str:
    """'light' or 'dark' for a setting of 'system', 'light' or 'dark'."""
    if choice in ("light", "dark"):
        return choice
    return "dark" if system_is_dark() else "light"


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 31, 34), QColor(220, 220, 220)
    disabled = QColor(128, 128, 128)
    role = QPalette.ColorRole
    p.setColor(role.Window, window)
    p.setColor(role.WindowText, text)
    p.setColor(role.Base, base)
    p.setColor(role.AlternateBase, QColor(40, 41, 44))
    p.setColor(role.ToolTipBase, QColor(60, 60, 64))
    p.setColor(role.ToolTipText, text)
    p.setColor(role.Text, text)
    p.setColor(role.Button, window)
    p.setColor(role.ButtonText, text)
    p.setColor(role.BrightText, QColor(255, 90, 90))
    p.setColor(role.Link, QColor(90, 160, 240))
    p.setColor(role.Highlight, QColor(60, 120, 200))
    p.setColor(role.HighlightedText, QColor(255, 255, 255))
    p.setColor(role.PlaceholderText, disabled)
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, disabled)
    return p


def apply_theme(app: QApplication, choice: str = "system") -> str:
    """Applies the theme for `choice`; returns the one applied ('light' or 'dark')."""
    theme = resolve(choice)
    app.setStyle("Fusion")
    app.setPalette(_dark_palette() if theme == "dark" else app.style().standardPalette())
    app.setProperty("vqstudio_theme", theme)
    return theme


def is_dark() -> bool:
    app = QApplication.instance()
    return bool(app and app.property("vqstudio_theme") == "dark")
