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


def evaluate(model_dir: str | Path, data: str | Path, split: str = "test", beam_width: int = 3,
             length_penalty: float | None = None, out: str | Path | None = None, use_cache: bool = True,
             meteor: bool = True, limit: int | None = None) -> dict:
    from captioner import features as feature_cache
    from captioner.data import load_flickr8k
    from captioner.preprocess import encoder_input
    from captioner.inference import Captioner

    dataset = load_flickr8k(data)
    captioner = Captioner.load(model_dir, eager=False, length_penalty=length_penalty)
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
        "length_penalty": captioner.length_penalty, "model_version": captioner.model_version,
        "metrics": scores, "unk_emitted": unk_count,
        "distinct_captions": len(set(best)), "mean_length": round(float(np.mean([len(b.split()) for b in best])), 2),
    }
    if out:
        with open(out, "w") as handle:
            for name in names:
                handle.write(json.dumps({"image": name, "caption": hypotheses[name][0],
                                         "alternatives": hypotheses[name], "references": references[name]}) + "\n")
    return report


def tune_decoding(model_dir: str | Path, data: str | Path, penalties=(0.0, 0.5, 1.0, 1.5, 2.0),
                  widths=(1, 3, 5), write: bool = True, log=print) -> dict:
    """Pick the length penalty on the dev split (beam 3, the product default) by BLEU-4, and
    record every tried setting. The choice is written into the checkpoint's config.json."""
    from captioner import checkpoint

    trials = []
    for width in widths:
        for penalty in (penalties if width > 1 else (1.0,)):
            report = evaluate(model_dir, data, split="dev", beam_width=width, length_penalty=penalty, meteor=False)
            trial = {"beam_width": width, "length_penalty": penalty, **report["metrics"],
                     "mean_length": report["mean_length"]}
            log(json.dumps(trial))
            trials.append(trial)
    default_width = [t for t in trials if t["beam_width"] == 3] or trials
    best = max(default_width, key=lambda t: (t["BLEU-4"], t["CIDEr"]))
    decoding = {"beam_width": 3, "length_penalty": best["length_penalty"], "selected_on": "dev BLEU-4",
                "dev_trials": trials}
    if write:
        checkpoint.update_meta(model_dir, decoding=decoding)
    return decoding
