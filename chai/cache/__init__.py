"""CHAI's cross-inference latent cache: entity extraction, embeddings, vector index, byte-budgeted LRU store.

Main entry point: :class:`LatentCache` (``lookup(prompt, shape=...) -> Match | None``, ``insert(prompt, latents)``).
Parts are pluggable through small protocols: :class:`EntityExtractor` (:class:`SpacyExtractor`,
:class:`BuiltinExtractor`) and :class:`Embedder` (:class:`MiniLMEmbedder`, :class:`HashingEmbedder`).
Optional packages (faiss, spaCy, the MiniLM weights) are imported only when used. See docs/cache.md.
"""

from chai.cache.embedder import Embedder, HashingEmbedder, MiniLMEmbedder, default_embedder, l2_normalize
from chai.cache.entities import (
    FRAMING_PHRASES,
    FRAMING_WORDS,
    STYLE_WORDS,
    BuiltinExtractor,
    EntityExtractor,
    SpacyExtractor,
    default_extractor,
    spacy_available,
    strip_framing,
)
from chai.cache.index import IndexHit, VectorIndex, faiss_available
from chai.cache.latent_cache import (
    DEFAULT_BUDGET_BYTES,
    DEFAULT_THRESHOLD,
    LatentCache,
    Match,
    entry_nbytes_estimate,
)
from chai.cache.store import EntryRecord, LatentStore, decode_record, encode_record

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "DEFAULT_THRESHOLD",
    "FRAMING_PHRASES",
    "FRAMING_WORDS",
    "STYLE_WORDS",
    "BuiltinExtractor",
    "Embedder",
    "EntityExtractor",
    "EntryRecord",
    "HashingEmbedder",
    "IndexHit",
    "LatentCache",
    "LatentStore",
    "Match",
    "MiniLMEmbedder",
    "SpacyExtractor",
    "VectorIndex",
    "decode_record",
    "default_embedder",
    "default_extractor",
    "encode_record",
    "entry_nbytes_estimate",
    "faiss_available",
    "l2_normalize",
    "spacy_available",
    "strip_framing",
]
