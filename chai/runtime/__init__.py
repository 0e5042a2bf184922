"""Per-generation runtime state of the patch (step, T, S, CFG layout, cached latents) and capture."""

from chai.runtime.capture import capture_latent, cross_attention_probs
from chai.runtime.context import ForwardState, GenerationSession, PatchContext

__all__ = ["ForwardState", "GenerationSession", "PatchContext", "capture_latent", "cross_attention_probs"]
