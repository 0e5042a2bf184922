"""CHAI's cross-inference latent cache: entity extraction, embeddings, vector index, byte-budgeted LRU store.

Main entry point: :class:`LatentCache` (``lookup(prompt, shape=..., model=...) -> Lookup`` whose ``.match`` is
a :class:`Match` or None, ``insert(prompt, latents, lookup=...)``). It is a thin layer over two parts with one
job each: the :class:`Matcher` (extract, embed, search a local vector index) and an :class:`EntryStore` (bytes,
LRU, budget), embedded (:class:`DirectoryStore`: RAM or a folder) or shared by a fleet (:class:`RedisStore`).
Extraction and embedding are pluggable through small protocols: :class:`EntityExtractor` (:class:`SpacyExtractor`,
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
    MAX_PROMPT_CHARS,
    LatentCache,
    Lookup,
    Match,
    entry_nbytes_estimate,
)
from chai.cache.matcher import Matcher
from chai.cache.record import EntryRecord, decode_record, encode_record
from chai.cache.dir_store import DirectoryStore
from chai.cache.redis_store import RedisStore  # redis-py itself is imported only when a Redis store opens
from chai.cache.store import EntryStore, StoreUnavailable, parse_location


__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "DEFAULT_THRESHOLD",
    "MAX_PROMPT_CHARS",
    "FRAMING_PHRASES",
    "FRAMING_WORDS",
    "STYLE_WORDS",
    "BuiltinExtractor",
    "DirectoryStore",
    "Embedder",
    "EntityExtractor",
    "EntryRecord",
    "EntryStore",
    "HashingEmbedder",
    "IndexHit",
    "LatentCache",
    "Lookup",
    "Match",
    "Matcher",
    "MiniLMEmbedder",
    "RedisStore",
    "SpacyExtractor",
    "StoreUnavailable",
    "VectorIndex",
    "decode_record",
    "default_embedder",
    "default_extractor",
    "encode_record",
    "entry_nbytes_estimate",
    "faiss_available",
    "l2_normalize",
    "parse_location",
    "spacy_available",
    "strip_framing",
]
