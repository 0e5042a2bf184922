"""Reversible instance-level patches: ``patch_opensora``, ``unpatch``, ``patched``, ``PatchHandle``."""

from chai.patching.opensora import (
    PatchHandle,
    check_opensora_model,
    get_patch_handle,
    patch_opensora,
    patched,
    unpatch,
)
from chai.sampling import capture_steps_for

__all__ = [
    "PatchHandle",
    "patch_opensora",
    "unpatch",
    "patched",
    "get_patch_handle",
    "check_opensora_model",
    "capture_steps_for",
]
