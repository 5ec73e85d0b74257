"""Cache VGG16 conv maps of every Flickr8k split, once, outside git.

Layout under `paths.features_dir()`: `<layer>/<split>.f16` (a float16 memmap of shape
(N, H, W, 512)), `<layer>/<split>.json` (image names and shape) and `<layer>/<split>.done`
(rows written so far). An interrupted run resumes at the first unwritten row.

`flip=True` caches the horizontally mirrored images as split `<split>-flipped` (augmentation for
the teacher-forced stage; their captions get "left" and "right" swapped, see `data.flip_caption`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from captioner.data import Flickr8k
from captioner.encoder import FEATURE_LAYERS
from captioner.paths import features_dir


def _files(layer: str, split: str, root: Path | None = None) -> tuple[Path, Path, Path]:
    base = (root or features_dir()) / layer
    base.mkdir(parents=True, exist_ok=True)
    return base / f"{split}.f16", base / f"{split}.json", base / f"{split}.done"


def rows_done(done_file: Path) -> int:
    try:
        return int(done_file.read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def open_cache(layer: str, split: str, names: list[str], root: Path | None = None):
    data_file, meta_file, done_file = _files(layer, split, root)
    shape = (len(names),) + FEATURE_LAYERS[layer]
    meta = {"names": names, "shape": list(shape), "dtype": "float16"}
    if meta_file.exists() and json.loads(meta_file.read_text()) != meta:
        # A different image list: start over rather than mix rows of two lists.
        done_file.unlink(missing_ok=True)
        data_file.unlink(missing_ok=True)
    meta_file.write_text(json.dumps(meta))
    mode = "r+" if data_file.exists() else "w+"
    return np.memmap(data_file, dtype=np.float16, mode=mode, shape=shape), done_file


def flipped_split(split: str) -> str:
    return f"{split}-flipped"


def mirrored_input(path: Path) -> np.ndarray:
    from PIL import ImageOps

    from captioner.preprocess import encoder_input, upright_rgb

    return encoder_input(ImageOps.mirror(upright_rgb(path)))


def extract(dataset: Flickr8k, splits=("train", "dev", "test"), layers=tuple(FEATURE_LAYERS),
            batch_size: int = 16, root: Path | None = None, encoder=None, flip: bool = False) -> None:
    from tqdm import tqdm

    from captioner.encoder import load_multi_encoder
    from captioner.preprocess import encoder_input

    model = encoder or load_multi_encoder(tuple(layers))
    prepare = mirrored_input if flip else encoder_input
    for split in splits:
        names = dataset.split(split)
        cache_split = flipped_split(split) if flip else split
        caches = [open_cache(layer, cache_split, names, root) for layer in layers]
        start = min(rows_done(done) for _, done in caches)
        with tqdm(total=len(names), initial=start, desc=f"features {cache_split}", unit="img") as bar:
            for begin in range(start, len(names), batch_size):
                batch_names = names[begin: begin + batch_size]
                batch = np.stack([prepare(dataset.image_path(n)) for n in batch_names])
                outputs = model.predict_on_batch(batch)
                if not isinstance(outputs, (list, tuple)):
                    outputs = [outputs]
                for (array, done), out in zip(caches, outputs):
                    array[begin: begin + len(batch_names)] = np.asarray(out, dtype=np.float16)
                    array.flush()
                    done.write_text(str(begin + len(batch_names)))
                bar.update(len(batch_names))


def load(layer: str, split: str, root: Path | None = None) -> tuple[list[str], np.ndarray]:
    """Names and a read-only float16 memmap of a completed cache."""
    data_file, meta_file, done_file = _files(layer, split, root)
    if not meta_file.exists():
        raise FileNotFoundError(f"no feature cache for {layer}/{split}: run `python -m captioner extract-features`")
    meta = json.loads(meta_file.read_text())
    if rows_done(done_file) < meta["shape"][0]:
        raise RuntimeError(f"feature cache {layer}/{split} is incomplete: run extract-features again to resume")
    return meta["names"], np.memmap(data_file, dtype=np.float16, mode="r", shape=tuple(meta["shape"]))
