"""Both Flickr8k layouts on a small fixture; caption cleaning; vocabulary round trip."""
import pytest

from captioner.data import Vocabulary, clean_caption, load_flickr8k

CAPTIONS = {
    "1000_aaa.jpg": ["A dog runs on the grass .", "The brown dog is running", "a dog", "dog outside", "A DOG!"],
    "2000_bbb.jpg": ["Two men's hats", "a man in a hat", "men", "hats", "a hat"],
    "3000_ccc.jpg": ["A child plays .", "kid playing", "a child", "child", "kids, playing"],
}


def write_token_layout(root):
    (root / "Images").mkdir()
    lines = [f"{name}#{i}\t{caption}" for name, caps in CAPTIONS.items() for i, caption in enumerate(caps)]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (root / "Flickr_8k.trainImages.txt").write_text("1000_aaa.jpg\n2000_bbb.jpg\n")
    (root / "Flickr_8k.devImages.txt").write_text("3000_ccc.jpg\n")
    (root / "Flickr_8k.testImages.txt").write_text("")


def write_kaggle_layout(root):
    (root / "Images").mkdir()
    rows = ["image,caption"] + [f'{name},"{caption}"' for name, caps in CAPTIONS.items() for caption in caps]
    (root / "captions.txt").write_text("\n".join(rows) + "\n")


def test_token_layout(tmp_path):
    write_token_layout(tmp_path)
    data = load_flickr8k(tmp_path)
    assert data.captions == CAPTIONS
    assert data.split("train") == ["1000_aaa.jpg", "2000_bbb.jpg"]
    assert data.split("dev") == ["3000_ccc.jpg"]
    assert data.split("test") == []
    assert data.image_path("1000_aaa.jpg") == tmp_path / "Images" / "1000_aaa.jpg"


def test_kaggle_layout_without_split_files(tmp_path):
    write_kaggle_layout(tmp_path)
    data = load_flickr8k(tmp_path)
    assert data.captions == CAPTIONS  # quoted commas survive the CSV reader
    every = sorted(n for split in data.splits.values() for n in split)
    assert every == sorted(CAPTIONS)
    assert load_flickr8k(tmp_path).splits == data.splits  # deterministic


def test_both_layouts_agree_when_both_present(tmp_path):
    write_token_layout(tmp_path)
    (tmp_path / "Images").rmdir()
    write_kaggle_layout(tmp_path)
    assert load_flickr8k(tmp_path, layout="token").captions == load_flickr8k(tmp_path, layout="kaggle").captions


def test_bad_files_give_clear_errors(tmp_path):
    (tmp_path / "Flickr8k.token.txt").write_text("no tab here\n")
    with pytest.raises(ValueError, match="IMAGE#N<TAB>caption"):
        load_flickr8k(tmp_path)
    (tmp_path / "Flickr8k.token.txt").unlink()
    (tmp_path / "captions.txt").write_text("file,text\nx,y\n")
    with pytest.raises(ValueError, match="image,caption"):
        load_flickr8k(tmp_path)


def test_clean_caption():
    assert clean_caption("A DOG runs, on the grass .") == ["a", "dog", "runs", "on", "the", "grass"]
    assert clean_caption("Two men's hats 2") == ["two", "men", "hats"]
    assert clean_caption("") == []


def test_vocabulary_min_count_and_round_trip():
    tokenised = [clean_caption(c) for caps in CAPTIONS.values() for c in caps]
    vocab = Vocabulary.build(tokenised, min_count=3)
    assert vocab.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert "dog" in vocab.stoi and "a" in vocab.stoi
    assert "grass" not in vocab.stoi  # seen once
    ids = vocab.encode(["a", "dog", "on", "grass"])
    assert ids[0] == vocab.start_id and ids[-1] == vocab.end_id
    assert ids[-2] == vocab.unk_id
    assert vocab.decode(ids) == ["a", "dog", "<unk>", "<unk>"]
    again = Vocabulary.from_json(vocab.to_json())
    assert again.itos == vocab.itos
    assert again.encode(["a", "dog"]) == vocab.encode(["a", "dog"])


def test_vocabulary_rejects_a_foreign_file():
    with pytest.raises(ValueError):
        Vocabulary.from_json('{"itos": ["a", "b"]}')
