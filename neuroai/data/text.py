"""Word-level text corpora for language modelling.

Two sources, one format. The standard one is Penn Treebank / WikiText style:
a folder with ``train.txt``, ``valid.txt`` and ``test.txt`` (WikiText's
``wiki.train.tokens`` ... are recognized too), one sentence or paragraph per
line, tokens separated by spaces, rare words already replaced by ``<unk>``.
Each line ends with an ``<eos>`` token. The vocabulary is built from the
training file; a valid or test token missing from it becomes ``<unk>``.

The default corpus needs no download: English prose that ships with Python
itself, the documentation topics of :mod:`pydoc_data` and the docstrings of
the standard library's modules, classes and functions (read with :mod:`ast`,
nothing imported). It is normalized the way Mikolov's PTB was: lower case,
numbers replaced by ``N``, no punctuation, one sentence per line, words
outside the 10,000 most frequent training words replaced by ``<unk>``.
Documents are split deterministically (every 10th document to validation,
the next to test), so the corpus is the same on every machine with the same
Python version (it is about 300k tokens for Python 3.11; PTB's training set
has 930k).
"""
from __future__ import annotations

import ast
import functools
import re
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
import torch

from .. import validation as check

UNK, EOS = "<unk>", "<eos>"
SPLITS = ("train", "valid", "test")
_FILE_NAMES = {"train": ("train.txt", "wiki.train.tokens"), "valid": ("valid.txt", "wiki.valid.tokens"),
               "test": ("test.txt", "wiki.test.tokens")}


def _tokens(owner: str, name: str, tokens) -> list[str]:
    """``tokens`` as a list of strings: an iterable of strings, not one string (whose characters are no tokens)."""
    if isinstance(tokens, (str, bytes)):
        raise TypeError(f"{owner}: parameter '{name}' must be a sequence of tokens (strings), not one string; "
                        f"got {tokens!r} (split it first: text.split())")
    try:
        tokens = list(tokens)
    except TypeError:
        raise TypeError(f"{owner}: parameter '{name}' must be a sequence of tokens (strings), "
                        f"got {type(tokens).__name__}") from None
    wrong = [t for t in tokens if not isinstance(t, str)]
    if wrong:
        raise TypeError(f"{owner}: parameter '{name}' must hold strings (tokens), got {wrong[0]!r}")
    return tokens


class Vocabulary:
    """Token <-> id, ids in order of decreasing training frequency (ties by
    first appearance); ``<unk>`` and ``<eos>`` are always present."""

    def __init__(self, tokens: Iterable[str], max_size: int | None = None):
        counts = Counter(_tokens("Vocabulary", "tokens", tokens))
        ordered = [t for t, _ in counts.most_common() if t not in (UNK, EOS)]
        if max_size is not None:
            max_size = check.integer("Vocabulary", "max_size", max_size, minimum=3)
            ordered = ordered[:max_size - 2]
        self.itos: list[str] = [EOS, UNK, *ordered]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """Token ids (int64), unknown tokens as ``<unk>``."""
        unk = self.stoi[UNK]
        tokens = _tokens("Vocabulary.encode", "tokens", tokens)
        return torch.tensor([self.stoi.get(t, unk) for t in tokens], dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids`` (ints or a 1-D tensor), the inverse of :meth:`encode`."""
        owner = "Vocabulary.decode"
        if isinstance(ids, torch.Tensor):
            ids = ids.detach().cpu().numpy()
        given = ids
        try:
            ids = None if isinstance(ids, (str, bytes)) else list(ids)
        except TypeError:
            ids = None
        if ids is None:
            raise TypeError(f"{owner}: parameter 'ids' must be a sequence of token ids (ints), got {given!r}")
        wrong = [i for i in ids if isinstance(i, (bool, np.bool_)) or not isinstance(i, Integral)]
        if wrong:
            raise TypeError(f"{owner}: parameter 'ids' must hold integers (token ids), got {wrong[0]!r}")
        outside = [i for i in ids if not 0 <= i < len(self.itos)]
        if outside:
            raise ValueError(f"{owner}: parameter 'ids' must hold ids in [0, {len(self.itos) - 1}], got {outside[0]}")
        return [self.itos[int(i)] for i in ids]


@dataclass(frozen=True)
class Corpus:
    """A vocabulary and the token-id streams (1-D int64 tensors) of the three splits."""
    vocab: Vocabulary
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    source: str

    @classmethod
    def from_lines(cls, lines: dict[str, Sequence[str]], source: str, max_vocab: int | None = None) -> "Corpus":
        """Build from whitespace-tokenized lines per split (``<eos>`` is appended to each line)."""
        owner = "Corpus.from_lines"
        if not isinstance(lines, Mapping) or any(name not in lines for name in SPLITS):
            raise TypeError(f"{owner}: parameter 'lines' must be a dict of the splits {list(SPLITS)}, each a list of "
                            f"lines, got {lines!r}"[:400])
        lines = {name: _tokens(owner, f"lines[{name!r}]", lines[name]) for name in SPLITS}
        streams = {name: [tok for line in lines[name] for tok in (*line.split(), EOS)] for name in SPLITS}
        vocab = Vocabulary(streams["train"], max_size=max_vocab)
        return cls(vocab, *(vocab.encode(streams[name]) for name in SPLITS), source=source)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n} {len(getattr(self, n)):,}" for n in SPLITS)
        return f"Corpus({self.source!r}, vocabulary {len(self.vocab):,}, tokens: {sizes})"


#: What :func:`read_lines` reads, as its errors name it.
TEXT = "a PTB/WikiText text file (UTF-8 text, one tokenized sentence or paragraph per line)"
_FOLDER = "a folder with train.txt, valid.txt and test.txt (or WikiText's wiki.train.tokens, ...)"


def _parse_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if "\0" in text:
        raise ValueError(f"it holds NUL bytes (the first at character {text.index(chr(0))}): binary data, not text")
    return [line.strip() for line in text.split("\n") if line.strip()]  # universal newlines, as a file iterates


def read_lines(path: str | Path) -> list[str]:
    """The non-empty lines of a tokenized text file (PTB/WikiText format).

    Raises ``TypeError`` if ``path`` is not a path, ``FileNotFoundError`` if
    there is no such file, and ``ValueError`` naming the file and the format
    (the original exception chained) if it is a folder, cannot be read, is
    not UTF-8 text or holds NUL bytes (a binary file).
    """
    return check.read_file("read_lines", "path", path, TEXT, _parse_lines)


def load_corpus(directory: str | Path, max_vocab: int | None = None) -> Corpus:
    """Read a PTB/WikiText-format corpus from ``directory`` (see the module docstring).

    Raises ``FileNotFoundError`` if ``directory`` or one of the three splits'
    files does not exist, and ``ValueError`` if ``directory`` is a file or a
    split's file is not a text file (named, as :func:`read_lines` says).
    """
    directory = check.folder("load_corpus", "directory", directory, _FOLDER)
    lines = {}
    for split, names in _FILE_NAMES.items():
        found = [directory / n for n in names if (directory / n).exists()]
        if not found:
            raise FileNotFoundError(f"load_corpus: parameter 'directory' must hold the three splits' files, but "
                                    f"{str(directory)!r} has no {' or '.join(names)}")
        lines[split] = check.read_file("load_corpus", "directory", found[0], TEXT, _parse_lines)
    return Corpus.from_lines(lines, source=str(directory), max_vocab=max_vocab)


def write_corpus(corpus_lines: dict[str, Sequence[str]], directory: str | Path) -> Path:
    """Write lines per split as ``train.txt``/``valid.txt``/``test.txt`` (PTB format)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (directory / f"{split}.txt").write_text("".join(f" {line} \n" for line in corpus_lines[split]),
                                                encoding="utf-8")
    return directory


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def normalize(text: str) -> list[str]:
    """PTB-style sentences (space-separated tokens) from prose: code dropped
    (indented blocks, and doctest examples from ``>>>`` to the next blank
    line), lower case, numbers as ``N``, punctuation removed; sentences of
    fewer than 3 words are skipped."""
    prose, in_example = [], False
    for line in text.splitlines():
        stripped = line.strip()
        in_example = bool(stripped) and (in_example or stripped.startswith(">>>"))
        if stripped and not in_example and not line.startswith(("    ", "\t")) \
                and not stripped.startswith(("...", "::", "*", "=", "-", "+", "|")):
            prose.append(stripped)
    sentences = []
    for sentence in _SENTENCE_END.split(" ".join(prose).lower()):
        words = ["N" if w[0].isdigit() else w for w in _WORD.findall(sentence)]
        if len(words) >= 3:
            sentences.append(" ".join(words))
    return sentences


def _python_documents() -> list[str]:
    """The documentation topics of pydoc_data and the docstrings of the standard library, in a fixed order."""
    from pydoc_data.topics import topics
    documents = [topics[k] for k in sorted(topics)]
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}
    for path in sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts)):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    documents.append(doc)
    return documents


@functools.lru_cache(maxsize=1)
def python_docs_lines() -> dict[str, tuple[str, ...]]:
    """The embedded corpus as normalized lines per split (before the vocabulary cut)."""
    lines: dict[str, list[str]] = {name: [] for name in SPLITS}
    for k, document in enumerate(_python_documents()):
        split = "valid" if k % 10 == 8 else "test" if k % 10 == 9 else "train"
        lines[split].extend(normalize(document))
    return {name: tuple(v) for name, v in lines.items()}


def python_docs_corpus(max_vocab: int = 10_000) -> Corpus:
    """The embedded default corpus (see the module docstring), ``max_vocab`` words including ``<unk>``/``<eos>``."""
    max_vocab = check.integer("python_docs_corpus", "max_vocab", max_vocab, minimum=3)
    version = ".".join(map(str, sys.version_info[:2]))
    return Corpus.from_lines(python_docs_lines(), source=f"python{version}-docs", max_vocab=max_vocab)


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a token stream into ``batch_size`` parallel streams: shape ``(T, batch_size)``
    (column ``b`` continues where column ``b`` of the previous BPTT window stopped);
    the last ``len(ids) % batch_size`` tokens are dropped."""
    batch_size = check.integer("batchify", "batch_size", batch_size, minimum=1)
    _ids("batchify", "ids", ids, 1)
    steps = len(ids) // batch_size
    if steps < 2:
        raise ValueError(f"batchify: parameter 'ids' must hold at least 2 * batch_size tokens; {len(ids)} tokens "
                         f"are too few for batch_size {batch_size}")
    return ids[:steps * batch_size].view(batch_size, steps).t().contiguous()


def bptt_windows(data: torch.Tensor, bptt: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive ``(inputs, targets)`` windows of at most ``bptt`` steps from
    ``data`` (T, B); targets are the inputs shifted by one token."""
    bptt = check.integer("bptt_windows", "bptt", bptt, minimum=1)
    _ids("bptt_windows", "data", data, 2)

    def windows():
        for start in range(0, len(data) - 1, bptt):
            length = min(bptt, len(data) - 1 - start)
            yield data[start:start + length], data[start + 1:start + 1 + length]
    return windows()


def _ids(owner: str, name: str, value, ndim: int) -> None:
    """``value`` is an integer tensor of token ids with ``ndim`` dimensions."""
    if not isinstance(value, torch.Tensor) or value.is_floating_point() or value.is_complex() \
            or value.dtype == torch.bool or value.ndim != ndim:
        got = f"a {value.dtype} tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) \
            else type(value).__name__
        raise TypeError(f"{owner}: parameter '{name}' must be a {ndim}-D integer tensor of token ids, got {got}")
