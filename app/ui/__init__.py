"""PySide6 desktop app. Only this package imports Qt.

``qt_compat`` is imported first: it detects and neutralises the Qt binding's reference-count
bugs before any signal is connected.
"""

from .common import qt_compat  # noqa: F401
