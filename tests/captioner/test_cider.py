"""The SCST reward is pycocoevalcap's CIDEr-D, computed with fixed document frequencies."""
import numpy as np
import pytest
from pycocoevalcap.cider.cider import Cider

from captioner.cider import CiderD, ngram_counts
from captioner.data import clean_caption, load_flickr8k
from tests.images import FLICKR8K

# Hypotheses chosen to hit every branch: exact reference, partial overlap, repeated n-grams
# (clipping), words unseen in any reference (df floor), very short and very long captions
# (length penalty), one word (no bigram: zero norms).
HYPOTHESES = [
    "a black dog is running through the grass",
    "a dog a dog a dog runs on the grass",
    "two people are standing on a snowy mountain",
    "a man",
    "a boy in a red shirt is jumping into a swimming pool while his friends watch from the side of the pool",
    "zebra",
    "a girl in a pink dress is climbing the stairs",
    "a man rides a bike on a dirt path",
]


@pytest.fixture(scope="module")
def fixture_refs():
    if not (FLICKR8K / "Flickr8k.token.txt").exists():
        pytest.fail(f"Flickr8k is expected at {FLICKR8K}")
    data = load_flickr8k(FLICKR8K)
    names = data.split("dev")[: len(HYPOTHESES)]
    return [[" ".join(clean_caption(c)) for c in data.captions[n]] for n in names]


def fixture_hypotheses(refs):
    """Captions built from each image's own references (so some score high) plus the fixed ones."""
    own = [r[0].split() for r in refs]
    made = [
        " ".join(own[0]),                                   # a reference itself
        " ".join(own[1][:3] * 3),                           # its opening, repeated (clipping)
        " ".join(own[2][:2]),                               # very short (length penalty)
        " ".join(own[3] + own[3][::-1]),                    # long, with its words twice
    ]
    return made + HYPOTHESES[len(made):]


def coco_scores(refs, hyps):
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    mean, per_image = Cider().compute_score(gts, res)
    return mean, per_image


def test_matches_pycocoevalcap_per_image_when_frequencies_come_from_the_same_images(fixture_refs):
    hypotheses = fixture_hypotheses(fixture_refs)
    mean, expected = coco_scores(fixture_refs, hypotheses)
    cider = CiderD([[r.split() for r in refs] for refs in fixture_refs])
    ours = [cider.score(h.split(), i) for i, h in enumerate(hypotheses)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    assert cider.corpus_score([h.split() for h in hypotheses]) == pytest.approx(mean, abs=1e-12)
    assert max(ours) > 1.0 and min(ours) == 0.0  # the fixture spans good and useless captions


def test_a_reference_scores_high_and_a_stranger_scores_zero(fixture_refs):
    cider = CiderD([[r.split() for r in refs] for refs in fixture_refs])
    own = fixture_refs[0][0].split()
    assert cider.score(own, 0) > 2 * cider.score(own, 1)
    assert cider.score(["zebra", "xylophone"], 0) == 0.0


def test_fixed_frequencies_differ_from_the_scored_set_and_score_against_uses_them(fixture_refs):
    """With frequencies from a larger corpus the idf changes, so scores change: that is what makes
    the train-split reward different from scoring each batch on its own."""
    tokenised = [[r.split() for r in refs] for refs in fixture_refs]
    small = CiderD(tokenised[:2])
    large = CiderD(tokenised)
    hyp = HYPOTHESES[0].split()
    assert small.score(hyp, 0) != pytest.approx(large.score(hyp, 0))
    assert large.score_against(hyp, tokenised[0]) == pytest.approx(large.score(hyp, 0), abs=1e-12)


def test_ngram_counts_and_bad_input():
    counts = ngram_counts("a dog a dog".split())
    assert counts[("a", "dog")] == 2 and counts[("a", "dog", "a", "dog")] == 1 and len(counts) == 2 + 2 + 2 + 1
    with pytest.raises(ValueError, match="at least one image"):
        CiderD([])
    with pytest.raises(ValueError, match="captions for"):
        CiderD([[["a", "dog"]]]).corpus_score([])
