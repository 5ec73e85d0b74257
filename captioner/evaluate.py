"""Caption quality on a Flickr8k split with the coco-caption metrics (pycocoevalcap):
BLEU-1..4, METEOR, ROUGE-L and CIDEr against all five references, PTB-tokenised.
METEOR and the PTB tokenizer run on the machine's Java."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def coco_metrics(references: dict[str, list[str]], hypotheses: dict[str, str], meteor: bool = True) -> dict:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in refs] for k, refs in references.items()})
    res = tokenizer.tokenize({k: [{"caption": hypotheses[k]}] for k in references})
    scores = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n, value in enumerate(bleu, 1):
        scores[f"BLEU-{n}"] = value
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        scores["METEOR"], _ = scorer.compute_score(gts, res)
        try:
            scorer.close()
        except Exception:
            pass
    scores["ROUGE-L"], _ = Rouge().compute_score(gts, res)
    scores["CIDEr"], _ = Cider().compute_score(gts, res)
    return {k: round(float(v), 4) for k, v in scores.items()}


def repeats_an_ngram(words: list[str], n: int = 3) -> bool:
    grams = [tuple(words[i: i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def evaluate(model_dir: str | Path, data: str | Path, split: str = "test", beam_width: int = 3,
             length_penalty: float | None = None, out: str | Path | None = None, use_cache: bool = True,
             meteor: bool = True, limit: int | None = None, block_ngram: int | None = None,
             ensemble: list[str | Path] | None = None) -> dict:
    """`ensemble`: further checkpoints decoded together with `model_dir` (mean log-probabilities)."""
    from captioner import features as feature_cache
    from captioner.data import load_flickr8k
    from captioner.ensemble import load_ensemble
    from captioner.preprocess import encoder_input

    dataset = load_flickr8k(data)
    captioner = load_ensemble([model_dir, *(ensemble or [])], length_penalty=length_penalty, block_ngram=block_ngram)
    layer = captioner.model.config.feature_layer
    names = dataset.split(split)[:limit]
    cached = None
    if use_cache:
        try:
            cached_names, cached = feature_cache.load(layer, split)
            if cached_names[: len(names)] != names:
                cached = None
        except (FileNotFoundError, RuntimeError):
            cached = None
    hypotheses, unk_count = {}, 0
    for begin in range(0, len(names), 100):
        chunk = names[begin: begin + 100]
        if cached is not None:
            feats = np.asarray(cached[begin: begin + len(chunk)], dtype=np.float32)
        else:
            feats = captioner.encode(np.stack([encoder_input(dataset.image_path(n)) for n in chunk]))
        for name, hyps in zip(chunk, captioner.caption_features(feats, beam_width)):
            hypotheses[name] = [" ".join(h.words) for h in hyps]
            unk_count += sum(w == "<unk>" for w in hyps[0].words)
    references = {n: dataset.captions[n] for n in names}
    scores = coco_metrics(references, {n: h[0] for n, h in hypotheses.items()}, meteor=meteor)
    best = [h[0] for h in hypotheses.values()]
    report = {
        "split": split, "images": len(names), "beam_width": beam_width,
        "length_penalty": captioner.length_penalty, "block_ngram": captioner.block_ngram,
        "ensemble_size": len(getattr(captioner.model, "members", [None])), "model_version": captioner.model_version,
        "metrics": scores, "unk_emitted": unk_count,
        "distinct_captions": len(set(best)), "mean_length": round(float(np.mean([len(b.split()) for b in best])), 2),
        "repeating_a_trigram": sum(repeats_an_ngram(b.split(), 3) for b in best),
    }
    if out:
        with open(out, "w") as handle:
            for name in names:
                handle.write(json.dumps({"image": name, "caption": hypotheses[name][0],
                                         "alternatives": hypotheses[name], "references": references[name]}) + "\n")
    return report


# "targets": the setting that best meets both resolve targets of issue 13 (test BLEU-4 >= 0.213 and
# CIDEr-D >= 0.53), i.e. the largest min(BLEU-4 / 0.213, CIDEr / 0.53), measured on dev.
SELECTION = {
    "bleu4": ("dev BLEU-4", lambda t: (t["BLEU-4"], t["CIDEr"])),
    "targets": ("dev min(BLEU-4 / 0.213, CIDEr-D / 0.53)", lambda t: (min(t["BLEU-4"] / 0.213, t["CIDEr"] / 0.53), t["CIDEr"])),
}


def tune_decoding(model_dir: str | Path, data: str | Path, penalties=(0.0, 0.5, 1.0, 1.5, 2.0),
                  widths=(1, 3, 5), blocks=(0,), select: str = "bleu4", write: bool = True, log=print) -> dict:
    """Pick the length penalty and repeated n-gram blocking on the dev split (beam 3, the product
    default), and record every tried setting. The choice is written into the checkpoint's config.json."""
    from captioner import checkpoint

    label, key = SELECTION[select]
    trials = []
    for width in widths:
        for penalty in (penalties if width > 1 else (1.0,)):
            for block in blocks:
                report = evaluate(model_dir, data, split="dev", beam_width=width, length_penalty=penalty,
                                  block_ngram=block, meteor=False)
                trial = {"beam_width": width, "length_penalty": penalty, "block_ngram": block, **report["metrics"],
                         "mean_length": report["mean_length"], "distinct": report["distinct_captions"],
                         "repeating_a_trigram": report["repeating_a_trigram"]}
                log(json.dumps(trial))
                trials.append(trial)
    default_width = [t for t in trials if t["beam_width"] == 3] or trials
    best = max(default_width, key=key)
    decoding = {"beam_width": 3, "length_penalty": best["length_penalty"], "block_ngram": best["block_ngram"],
                "selected_on": label, "dev_trials": trials}
    if write:
        checkpoint.update_meta(model_dir, decoding=decoding)
    return decoding
