"""Deferred imports that keep the Lambda's cold start small.

``lazy_module(name)`` returns a module whose code runs on first attribute access, so route
modules can name their service without importing pydantic, cryptography and friends at import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def load(name: str) -> ModuleType:
    """Import ``name`` for real (runs a lazy module's code too)."""
    module = importlib.import_module(name)
    _ = module.__name__  # an attribute access makes a lazy module execute
    dir(module)
    return module
