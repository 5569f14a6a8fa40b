"""Rekognition operations, one function per API operation, named in snake_case."""

from __future__ import annotations

import importlib
import pkgutil
import threading

_loaded = False
_lock = threading.Lock()


def load_all() -> None:
    """Import every operation module so that each registers itself."""
    global _loaded  # noqa: PLW0603
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for module in pkgutil.iter_modules(__path__):
            if module.name not in {"context", "registry"} and not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
