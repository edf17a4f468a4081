"""Tabs whose pages are built when first needed, not before the window shows.

A page that is not visible at start-up, yet costly to import or build (the Report tab's
evaluation imports scipy.stats, about a second on a 2-core machine; each panel builds several
plots), is added as an empty placeholder with a factory. The page is built the first time its
tab is shown or code asks for it (`page(name)`); it then takes its placeholder's place at the
same index, so `tabs.currentWidget() is page` holds as for any tab, and `on_built(name, page)`
brings it up to date (a page built late has missed what happened before).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QTabWidget, QWidget

__all__ = ["DeferredTabs"]


class DeferredTabs:
    """The pages of `tabs` by name, each built at once (`add_page`) or when first needed (`add`)."""

    def __init__(self, tabs: QTabWidget, on_built: Callable[[str, QWidget], None]) -> None:
        self.tabs = tabs
        self._on_built = on_built
        self._titles: dict[str, str] = {}
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._placeholders: dict[str, QWidget] = {}
        self._pages: dict[str, QWidget] = {}
        tabs.currentChanged.connect(self._build_current)

    def add_page(self, name: str, title: str, page: QWidget) -> None:
        """A page built already (the one shown at start-up)."""
        self._titles[name] = title
        self._pages[name] = page
        self.tabs.addTab(page, title)

    def add(self, name: str, title: str, factory: Callable[[], QWidget]) -> None:
        """A page `factory()` builds when it is first needed; an empty placeholder until then."""
        self._titles[name] = title
        self._factories[name] = factory
        self._placeholders[name] = QWidget()
        self.tabs.addTab(self._placeholders[name], title)

    @property
    def names(self) -> list[str]:
        """Every page's name, in tab order."""
        return list(self._titles)

    def built(self, name: str) -> QWidget | None:
        """The page if it is built, else None (nothing is built by asking)."""
        return self._pages.get(name)

    def page(self, name: str) -> QWidget:
        """The page, built now if it was not yet."""
        page = self._pages.get(name)
        return page if page is not None else self._build(name)

    def show(self, name: str) -> None:
        """Makes the page the current tab (building it first if needed)."""
        self.tabs.setCurrentWidget(self.page(name))

    def _build_current(self, index: int) -> None:
        placeholder = self.tabs.widget(index)
        for name, widget in self._placeholders.items():
            if widget is placeholder:
                self._build(name)
                return

    def _build(self, name: str) -> QWidget:
        page = self._factories.pop(name)()
        self._pages[name] = page
        placeholder = self._placeholders.pop(name)
        index, current = self.tabs.indexOf(placeholder), self.tabs.currentIndex()
        # Swapped without signals: the tab shown does not change, only what it holds.
        blocked = self.tabs.blockSignals(True)
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, page, self._titles[name])
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(blocked)
        placeholder.deleteLater()
        self._on_built(name, page)
        return page
