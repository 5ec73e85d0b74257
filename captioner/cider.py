"""CIDEr-D with fixed document frequencies, the reward of self-critical training.

pycocoevalcap's `CiderScorer` recomputes the document frequencies and log(#images) from whatever
set it is scoring, and rebuilds every reference vector on each call. A reward needs the train
split's frequencies, fixed, and is called for every sampled caption, so this class computes
them once and keeps each train image's reference vectors. The arithmetic is pycocoevalcap 1.2's
(`cider_scorer.py`), term for term: tf-idf n-gram vectors for n = 1..4, the "D" clipping
min(hyp, ref) * ref, the Gaussian length penalty (sigma 6, length counted as pycocoevalcap does),
mean over n, mean over references, times 10. A test checks it against pycocoevalcap.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Tokens = Sequence[str]


def ngram_counts(words: Tokens, n: int = 4) -> Counter:
    counts: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i: i + k])] += 1
    return counts


class CiderD:
    """`CiderD(references_per_image)`: document frequencies over those images; then
    `score(words, image)` against that image's references, or `score_against(words, refs)`."""

    def __init__(self, references: Sequence[Sequence[Tokens]], n: int = 4, sigma: float = 6.0):
        if not references:
            raise ValueError("CIDEr-D needs the references of at least one image")
        self.n, self.sigma = n, sigma
        cooked = [[ngram_counts(ref, n) for ref in refs] for refs in references]
        self.document_frequency: Counter = Counter()
        for refs in cooked:
            self.document_frequency.update({gram for ref in refs for gram in ref})
        self.log_images = math.log(float(len(references)))
        self._refs = [[self._vector(ref) for ref in refs] for refs in cooked]

    def __len__(self) -> int:
        return len(self._refs)

    def _vector(self, counts: Counter):
        vec = [{} for _ in range(self.n)]
        norm = [0.0] * self.n
        length = 0
        for gram, term_freq in counts.items():
            order = len(gram) - 1
            weight = float(term_freq) * (self.log_images - math.log(max(1.0, self.document_frequency.get(gram, 0.0))))
            vec[order][gram] = weight
            norm[order] += weight * weight
            if order == 1:  # pycocoevalcap counts bigrams as the "length"; kept for equality
                length += term_freq
        return vec, [math.sqrt(x) for x in norm], length

    def _similarity(self, hyp, ref) -> float:
        (vec_h, norm_h, len_h), (vec_r, norm_r, len_r) = hyp, ref
        penalty = math.exp(-((len_h - len_r) ** 2) / (2 * self.sigma ** 2))
        total = 0.0
        for order in range(self.n):
            ref_order = vec_r[order]
            value = 0.0
            for gram, weight in vec_h[order].items():
                ref_weight = ref_order.get(gram)
                if ref_weight:
                    value += min(weight, ref_weight) * ref_weight
            if norm_h[order] != 0 and norm_r[order] != 0:
                value /= norm_h[order] * norm_r[order]
            total += value * penalty
        return total / self.n

    def _score_vectors(self, hyp, refs) -> float:
        return 10.0 * sum(self._similarity(hyp, ref) for ref in refs) / len(refs)

    def score(self, words: Tokens, image: int) -> float:
        """CIDEr-D of one caption (a list of words) against the references of image `image`."""
        return self._score_vectors(self._vector(ngram_counts(words, self.n)), self._refs[image])

    def score_against(self, words: Tokens, references: Sequence[Tokens]) -> float:
        """Against other references, with this object's document frequencies."""
        refs = [self._vector(ngram_counts(ref, self.n)) for ref in references]
        return self._score_vectors(self._vector(ngram_counts(words, self.n)), refs)

    def corpus_score(self, hypotheses: Sequence[Tokens]) -> float:
        """Mean over images; hypotheses[i] is the caption of image i."""
        if len(hypotheses) != len(self._refs):
            raise ValueError(f"{len(hypotheses)} captions for {len(self._refs)} images")
        return sum(self.score(h, i) for i, h in enumerate(hypotheses)) / len(hypotheses)
