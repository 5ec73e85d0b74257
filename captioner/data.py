"""Flickr8k: captions, splits, caption cleaning and the vocabulary.

Two layouts are read: the official one (`Flickr8k.token.txt` + `Flickr_8k.{train,dev,test}Images.txt`)
and the common Kaggle copy (`Images/` + `captions.txt`, a CSV with an `image,caption` header).
The Kaggle copy has no split files; its images are then split deterministically by a hash of
the file name, in the official proportions (6000/1000/1000 of 8000).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "dev", "test")
SPLIT_FILES = {split: f"Flickr_8k.{split}Images.txt" for split in SPLITS}
TOKEN_FILE = "Flickr8k.token.txt"
KAGGLE_FILE = "captions.txt"

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNK)

_WORD = re.compile(r"[a-z]+")


def clean_caption(text: str) -> list[str]:
    """Lower-case words made of letters; single letters other than 'a' are dropped
    (they are the remains of possessives and typos: "man's" -> "man")."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w == "a"]


# A mirrored photo's caption: what was on the left is now on the right. ("right" as in "correct"
# is rare in Flickr8k captions; it gets swapped too.)
_MIRRORED_WORDS = {"left": "right", "right": "left"}


def flip_caption(words: list[str]) -> list[str]:
    """The caption of the horizontally mirrored image (tokenised words in, words out)."""
    return [_MIRRORED_WORDS.get(w, w) for w in words]


@dataclass
class Flickr8k:
    root: Path
    image_dir: Path
    captions: dict[str, list[str]]  # image file name -> raw reference captions
    splits: dict[str, list[str]] = field(default_factory=dict)

    def split(self, name: str) -> list[str]:
        if name not in self.splits:
            raise KeyError(f"unknown split {name!r}; known: {sorted(self.splits)}")
        return self.splits[name]

    def image_path(self, name: str) -> Path:
        return self.image_dir / name


def _read_token_file(path: Path) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            try:
                key, caption = line.split("\t", 1)
            except ValueError:
                raise ValueError(f"{path}:{line_number}: expected IMAGE#N<TAB>caption") from None
            image = key.split("#", 1)[0]
            captions.setdefault(image, []).append(caption.strip())
    return captions


def _read_kaggle_csv(path: Path) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"image", "caption"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected an 'image,caption' header")
        for row in reader:
            captions.setdefault(row["image"].strip(), []).append(row["caption"].strip())
    return captions


def _hash_split(name: str) -> str:
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 8
    return "train" if bucket < 6 else ("dev" if bucket == 6 else "test")


def load_flickr8k(root: str | Path, layout: str = "auto") -> Flickr8k:
    root = Path(root)
    image_dir = root / "Images"
    if not image_dir.is_dir():
        image_dir = root / "Flicker8k_Dataset" if (root / "Flicker8k_Dataset").is_dir() else root
    if layout == "auto":
        layout = "token" if (root / TOKEN_FILE).exists() else "kaggle"
    if layout == "token":
        captions = _read_token_file(root / TOKEN_FILE)
    elif layout == "kaggle":
        captions = _read_kaggle_csv(root / KAGGLE_FILE)
    else:
        raise ValueError(f"unknown layout {layout!r}")

    splits: dict[str, list[str]] = {}
    if all((root / f).exists() for f in SPLIT_FILES.values()):
        for split, filename in SPLIT_FILES.items():
            names = [n.strip() for n in (root / filename).read_text().split() if n.strip()]
            splits[split] = [n for n in names if n in captions]
    else:
        for name in sorted(captions):
            splits.setdefault(_hash_split(name), []).append(name)
    return Flickr8k(root=root, image_dir=image_dir, captions=captions, splits=splits)


class Vocabulary:
    """Word <-> id. Ids 0..3 are <pad>, <start>, <end>, <unk>."""

    def __init__(self, words: list[str]):
        self.itos = list(SPECIAL_TOKENS) + [w for w in words if w not in SPECIAL_TOKENS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    pad_id, start_id, end_id, unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, tokenised_captions, min_count: int = 5) -> "Vocabulary":
        counts = Counter(w for caption in tokenised_captions for w in caption)
        words = sorted(w for w, c in counts.items() if c >= min_count)
        words.sort(key=lambda w: -counts[w])  # frequent first; ties stay alphabetical
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, words: list[str]) -> list[int]:
        return [self.start_id] + [self.stoi.get(w, self.unk_id) for w in words] + [self.end_id]

    def decode(self, ids) -> list[str]:
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i in (self.pad_id, self.start_id):
                continue
            words.append(self.itos[i])
        return words

    def to_json(self) -> str:
        return json.dumps({"itos": self.itos})

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        itos = json.loads(text)["itos"]
        if tuple(itos[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError("vocabulary does not start with the special tokens")
        return cls(itos[len(SPECIAL_TOKENS):])
