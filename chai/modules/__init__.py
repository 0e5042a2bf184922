"""Replacement module math used by the patches (Cache Attention for OpenSora 1.2 spatial blocks)."""

from chai.modules.cache_attention import cached_kv, embed_cached_latent, modulation_rows, spatial_cache_attention

__all__ = ["cached_kv", "embed_cached_latent", "modulation_rows", "spatial_cache_attention"]
