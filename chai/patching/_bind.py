"""Instance-level method rebinding with exact restore.

``bind_forward(module, fn)`` puts ``fn`` in the instance ``__dict__`` under ``forward`` (so only this
instance changes; the class and every other instance keep their method) and returns a record whose
``restore()`` puts back the previous state exactly: the earlier instance attribute object if there was
one, otherwise no instance attribute at all (so attribute lookup falls back to the class method again).
``PatchHandle.remove`` undoes a patch's records in reverse order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

__all__ = ["BoundRecord", "bind_forward"]

_MISSING = object()


@dataclass
class BoundRecord:
    """What ``bind_forward`` replaced on one module."""

    module: nn.Module
    name: str
    previous: Any  # the instance attribute before patching, or _MISSING
    replacement: Callable

    def restore(self) -> None:
        current = self.module.__dict__.get(self.name, _MISSING)
        if current is not self.replacement:
            raise RuntimeError(
                f"{type(self.module).__name__}.{self.name} was replaced again after chai patched it;"
                " refusing to overwrite it."
                " HINT: undo the later patch first (patches must be removed in reverse order)."
            )
        if self.previous is _MISSING:
            del self.module.__dict__[self.name]
        else:
            self.module.__dict__[self.name] = self.previous


def bind_forward(module: nn.Module, fn: Callable, name: str = "forward") -> BoundRecord:
    """Install ``fn`` as ``module.<name>`` on this instance only; returns the record to undo it."""
    previous = module.__dict__.get(name, _MISSING)
    module.__dict__[name] = fn
    return BoundRecord(module=module, name=name, previous=previous, replacement=fn)
