"""Clean-room OpenSora 1.2 models: ``STDiT3`` and ``STDiT3Config`` (presets "tiny", "tiny-hd72", "mini", "XL/2")."""

from chai.models.stdit3 import MINI_LATENT_SHAPE, PRESETS, STDiT3, STDiT3Block, STDiT3Config

__all__ = ["STDiT3", "STDiT3Block", "STDiT3Config", "PRESETS", "MINI_LATENT_SHAPE"]
