"""Word-level corpora: vocabulary, PTB-format files, the embedded corpus, BPTT batches."""
import pytest
import torch

from neuroai.data.text import (EOS, UNK, Corpus, Vocabulary, batchify, bptt_windows, load_corpus, normalize,
                               python_docs_corpus, write_corpus)

LINES = {"train": ["the cat sat", "the dog sat on the mat"], "valid": ["the bird sat"], "test": ["a cat"]}


def test_vocabulary_orders_by_frequency_and_maps_unknown_words():
    vocab = Vocabulary("b a b c b a".split())
    assert vocab.itos == [EOS, UNK, "b", "a", "c"]
    assert vocab.encode(["a", "zebra"]).tolist() == [3, 1]
    assert vocab.decode([2, 4]) == ["b", "c"]
    assert len(Vocabulary("b a b c b a".split(), max_size=4)) == 4


def test_ptb_files_round_trip(tmp_path):
    corpus = load_corpus(write_corpus(LINES, tmp_path / "ptb"))
    assert corpus.vocab.decode(corpus.train) == "the cat sat <eos> the dog sat on the mat <eos>".split()
    assert corpus.vocab.decode(corpus.valid) == "the <unk> sat <eos>".split()   # 'bird' is not in training
    assert corpus.vocab.decode(corpus.test) == "<unk> cat <eos>".split()


def test_wikitext_file_names_are_recognized(tmp_path):
    for split, lines in LINES.items():
        (tmp_path / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n\n")
    corpus = load_corpus(tmp_path)
    assert len(corpus.train) == 11 and len(corpus.valid) == 4


def test_missing_files_are_named(tmp_path):
    (tmp_path / "train.txt").write_text("a b\n")
    with pytest.raises(FileNotFoundError, match="has no valid.txt or wiki.valid.tokens"):
        load_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match="must be a folder with train.txt"):
        load_corpus(tmp_path / "nowhere")


def test_normalize_keeps_prose_and_drops_code():
    text = ("Return the sum of 2 numbers. Raises ValueError!\n"
            ">>> add(1, 2)\n"
            "3\n"
            "\n"
            "    indented code line here\n"
            "It's all fine: see section 4.2 for details")
    assert normalize(text) == ["return the sum of N numbers", "it's all fine", "see section N for details"]


def test_embedded_corpus_is_prose_split_by_document():
    corpus = python_docs_corpus()
    n = {split: len(getattr(corpus, split)) for split in ("train", "valid", "test")}
    assert n["train"] > 150_000 and 0.05 < n["valid"] / n["train"] < 0.25 and 0.05 < n["test"] / n["train"] < 0.25
    assert len(corpus.vocab) <= 10_000
    words = set(corpus.vocab.itos[:200])
    assert {"the", "a", "of", "function", "N"} <= words
    small = python_docs_corpus(max_vocab=100)
    assert len(small.vocab) == 100
    assert float((small.train == small.vocab.stoi[UNK]).float().mean()) > 0.2


def test_batchify_makes_contiguous_streams_and_windows_shift_by_one():
    ids = torch.arange(23)
    data = batchify(ids, 4)
    assert data.shape == (5, 4)
    assert data[:, 1].tolist() == [5, 6, 7, 8, 9]  # column b is one contiguous stretch of the stream
    windows = list(bptt_windows(data, 3))
    assert [len(x) for x, _ in windows] == [3, 1]
    for inputs, targets in windows:
        assert torch.equal(targets, inputs + 1)
    with pytest.raises(ValueError, match="too few for batch_size 20"):
        batchify(ids, 20)


def test_corpus_repr_gives_the_sizes():
    corpus = Corpus.from_lines(LINES, source="toy")
    assert "vocabulary" in repr(corpus) and "train 11" in repr(corpus)
