"""Word senses read from context: does the cached prompt mean the same `crane` as the request?

The agreement rule (:mod:`chai.cache.agreement`) judges two entity phrases, and for a head word WordNet lists as
different kinds of visible thing (`crane` the wading bird and the lifting device, `ruler` the person and the
measuring stick, `drone` the bee and the aircraft) the phrases alone cannot tell "a crane lifting beams" from "a
crane standing in a marsh": both extract `crane`. The rest of each prompt can. :class:`SenseReader` embeds the
whole prompt and each candidate sense's text from the lexicon (its hypernym and WordNet definition: "a wading
bird: large long-necked wading bird of marshes ..."), and reads the sense with the highest cosine, with its
margin over the runner-up. :meth:`SenseReader.conflict` vetoes a pair only when the two prompts read senses of
different kinds, each by at least :data:`SENSE_MARGIN`: an undecided reading never refuses (precision where the
context is clear, no recall lost where it is not). It checks; the rule decides.

Needs a sentence embedder that places text by meaning (the bundled MiniLM); with a hashing embedder the reader
is off (:func:`sense_reader_for`). docs/matching.md has the measurements.
"""

from __future__ import annotations

import collections
import functools
import threading
from dataclasses import dataclass

import numpy as np

from chai.cache.embedder import l2_normalize

__all__ = ["SENSE_MARGIN", "Reading", "SenseReader", "sense_reader_for"]

#: How far the best sense's cosine with the prompt must lead the runner-up's, in both prompts, for a veto. Chosen
#: on the dev split of the labelled prompts, in the middle of the gap between the readings of wrong hits (0.16 and
#: up) and of right ones (0.05 and below); see docs/matching.md.
SENSE_MARGIN: float = 0.10

#: Embedders whose vectors place text by meaning (a hashing embedder's do not: its senses would be noise).
SEMANTIC_EMBEDDERS = frozenset({"minilm-l6-v2"})


@dataclass(frozen=True)
class Reading:
    """The sense a prompt gives ``head``: WordNet synset id, its text, and its cosine lead over the next sense."""

    head: str
    sense: int
    text: str
    margin: float


class SenseReader:
    """Reads which visible sense of a head word a prompt means (thread-safe; memoised per prompt and head)."""

    def __init__(self, embedder, *, margin: float = SENSE_MARGIN, memo_size: int = 4096):
        if not 0.0 <= float(margin) <= 2.0:
            raise ValueError(f"SenseReader: margin={margin!r} must lie in [0, 2] (a cosine difference).\n"
                             f"HINT: the default is {SENSE_MARGIN}.")
        self.embedder = embedder
        self.margin = float(margin)
        self._read = functools.lru_cache(maxsize=int(memo_size))(self._read_uncached)
        # Sense texts never change: their vectors are kept here, apart from the embedder's memo of entities.
        self._sense_vecs: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._sense_memo = int(memo_size)
        self._lock = threading.Lock()

    def read(self, prompt: str, head: str) -> Reading | None:
        """The sense of ``head`` (a WordNet lemma, "_" joining words) that ``prompt`` means, or None when the head
        has no senses of different kinds to choose between."""
        return self._read(str(prompt), str(head))

    def _read_uncached(self, prompt: str, head: str) -> Reading | None:
        from chai.cache.lexicon import lexicon

        lex = lexicon()
        choices = lex.sense_choices(head)
        if len(choices) < 2:
            return None
        texts = {s: lex.sense_text(s) for s in choices}
        with self._lock:
            known = {s: self._sense_vecs[s] for s in choices if s in self._sense_vecs}
        todo = [s for s in choices if s not in known]
        vecs = l2_normalize(self.embedder.embed([prompt, *(texts[s] for s in todo)]))
        with self._lock:
            for s, v in zip(todo, vecs[1:]):
                self._sense_vecs[s] = known[s] = v
            for s in choices:
                self._sense_vecs.move_to_end(s)
            while len(self._sense_vecs) > self._sense_memo:
                self._sense_vecs.popitem(last=False)
        cos = np.stack([known[s] for s in choices]) @ vecs[0]
        order = np.argsort(-cos, kind="stable")
        best, second = int(order[0]), int(order[1])
        return Reading(head=head, sense=choices[best], text=texts[choices[best]], margin=float(cos[best] - cos[second]))

    def conflict(self, request_prompt: str, request_entity: str, cached_prompt: str, cached_entity: str) -> str:
        """Why the two prompts mean different senses of the entities' common head ('' when they do not, when
        the heads differ, or when either reading is undecided)."""
        from chai.cache.agreement import analyse
        from chai.cache.lexicon import lexicon

        q, c = analyse(request_entity), analyse(cached_entity)
        if q.invalid or c.invalid or q.head != c.head:
            return ""
        rq = self.read(request_prompt, q.head)
        if rq is None or rq.margin < self.margin:
            return ""
        rc = self.read(cached_prompt, c.head)
        if rc is None or rc.margin < self.margin or rc.sense == rq.sense:
            return ""
        lex = lexicon()
        if lex.lexname(rq.sense) == lex.lexname(rc.sense):
            return ""
        return (f"word sense: {q.head.replace('_', ' ')!r} read as {rq.text.split(':')[0]!r} in the request "
                f"(lead {rq.margin:.2f}), as {rc.text.split(':')[0]!r} in the cached prompt (lead {rc.margin:.2f})")


def sense_reader_for(embedder, **kwargs) -> SenseReader | None:
    """A :class:`SenseReader` over ``embedder`` when it embeds by meaning (:data:`SEMANTIC_EMBEDDERS`), else None."""
    return SenseReader(embedder, **kwargs) if getattr(embedder, "name", "") in SEMANTIC_EMBEDDERS else None
