"""Every loader turns a wrong or malicious file into a neuroai error naming the owner, the file and the
expected format (the original exception chained), and never unpickles code."""
import gzip
import json
import os
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import neuroai as na
from neuroai.data import load_mnist_idx, read_idx
from neuroai.data.text import Corpus, load_corpus, read_lines, write_corpus
from neuroai.models import diehl_cook as dc
from neuroai.models.rnnlm import LMTraining, RNNLanguageModel, fit_language_model
from neuroai.training import Trainer, load_checkpoint, save_checkpoint

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
SMALL = dc.DiehlCook(n_neurons=3)


class Evil:
    """Unpickling this runs a shell command that writes ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo hacked > {self.marker}",)


def trainer():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    return Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


def train_loader():
    return DataLoader(TensorDataset(torch.randn(8, 3), torch.randint(0, 2, (8,))), batch_size=4)


def lm_corpus():
    return Corpus.from_lines({"train": ["a b c d"] * 8, "valid": ["a b c d"] * 4, "test": ["a b c d"] * 4}, "abcd")


def fit_lm(path):
    corpus = lm_corpus()
    model = RNNLanguageModel(len(corpus.vocab), embedding=4, hidden=4, layers=1, seed=0)
    return fit_language_model(model, corpus, LMTraining(batch_size=2, eval_batch_size=2, bptt=4, epochs=1),
                              progress=False, checkpoint=path)


def write_idx(path, array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    (gzip.open if path.suffix == ".gz" else open)(path, "wb").write(header + array.tobytes())


def write_nir(path):
    nir = pytest.importorskip("nir")
    from neuroai.interop.nir import to_nir
    net = na.Network(dt=1e-3)
    net.add_input("inp", 3, na.SpikeArray())
    net.add_population("a", 2)
    net.connect("inp", "a", weight=0.5)
    nir.write(path, to_nir(net))


def nir_loader(name):
    def load(path):
        pytest.importorskip("nir")
        from neuroai.interop import nir as interop
        return getattr(interop, name)(path)
    return load


# name: (load(path), owner, expected format in the message, write a valid file, whether a missing file is an
# error (a resumable run's checkpoint that does not exist yet means a fresh start))
LOADERS = {
    "load_checkpoint": (load_checkpoint, "load_checkpoint", "a neuroai checkpoint",
                        lambda p: save_checkpoint({"w": torch.ones(30)}, p), True),
    "Trainer.fit": (lambda p: trainer().fit(train_loader(), epochs=1, resume=p), "Trainer.fit",
                    "a neuroai checkpoint", lambda p: save_checkpoint(trainer().state_dict(), p), True),
    "Trainer.load_checkpoint": (lambda p: trainer().load_checkpoint(p), "Trainer.load_checkpoint",
                                "a neuroai checkpoint", lambda p: save_checkpoint(trainer().state_dict(), p), True),
    "fit_language_model": (fit_lm, "fit_language_model", "a neuroai checkpoint",
                           lambda p: save_checkpoint({"w": torch.ones(30)}, p), False),
    "diehl_cook.train": (lambda p: dc.train(SMALL, np.zeros((2, 4)), checkpoint=p), "diehl_cook.train",
                         "a diehl_cook.train checkpoint \\(an .npz file",
                         lambda p: dc._save_checkpoint(p, 1, np.zeros((1, 3)), np.zeros((4, 3)), np.zeros(3),
                                                       np.random.default_rng(0).bit_generator.state), False),
    "read_idx": (read_idx, "read_idx", "an IDX file", lambda p: write_idx(p, np.zeros((5, 4, 4), np.uint8)), True),
    "read_idx .gz": (read_idx, "read_idx", "an IDX file",
                     lambda p: write_idx(p.with_suffix(".gz"), np.zeros((5, 4, 4), np.uint8)), True),
    "read_lines": (read_lines, "read_lines", "a PTB/WikiText text file",
                   lambda p: p.write_text("ein kleines würstchen\n" * 3, encoding="utf-8"), True),
    "from_nir": (nir_loader("from_nir"), "from_nir", "a NIR graph \\(an HDF5 file", write_nir, True),
    "nir_latency": (nir_loader("nir_latency"), "nir_latency", "a NIR graph \\(an HDF5 file", write_nir, True),
}


def named(owner, path, what=""):
    return f"{re.escape(owner)}: {re.escape(repr(str(path)))} {what}"


def refuses(name, path, reason=""):
    """The loader ``name`` given ``path`` raises a ValueError naming itself, the file and its format."""
    load, owner, expected, _, _ = LOADERS[name]
    with pytest.raises(ValueError, match=named(owner, path, f"is not {expected}.*{reason}")) as err:
        load(path)
    assert err.value.__cause__ is not None  # the original error is kept
    return err.value


def file_for(name, tmp_path):
    """A path with the suffix the loader expects."""
    return tmp_path / ("file.gz" if name.endswith(".gz") else "file")


@pytest.mark.parametrize("name", [n for n in LOADERS if LOADERS[n][4]])
def test_a_missing_file_is_named(name, tmp_path):
    load, owner, *_ = LOADERS[name]
    path = file_for(name, tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(f"{owner}: no such file {str(path)!r}")):
        load(path)


@pytest.mark.parametrize("name", LOADERS)
def test_a_folder_is_refused(name, tmp_path):
    load, owner, expected, _, _ = LOADERS[name]
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match=named(owner, tmp_path / "folder", f"is a folder, not {expected}")):
        load(tmp_path / "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("name", LOADERS)
def test_a_pipe_is_refused_unread(name, tmp_path):
    load, owner, expected, _, _ = LOADERS[name]
    os.mkfifo(tmp_path / "pipe")  # reading it would block
    with pytest.raises(ValueError, match=named(owner, tmp_path / "pipe", f"is not a regular file .*, not {expected}")):
        load(tmp_path / "pipe")


@pytest.mark.parametrize("name", [n for n in LOADERS if n != "read_lines"])  # for read_lines it is text
def test_a_text_file_is_refused(name, tmp_path):
    path = file_for(name, tmp_path)
    path.write_text(PASSWD)
    refuses(name, path)


@pytest.mark.parametrize("name", LOADERS)
def test_random_bytes_are_refused(name, tmp_path):
    path = file_for(name, tmp_path)
    path.write_bytes(np.random.default_rng(1).bytes(2000))
    refuses(name, path)


@pytest.mark.parametrize("name", LOADERS)
def test_a_truncated_file_is_refused(name, tmp_path):
    path = file_for(name, tmp_path)
    LOADERS[name][3](path)
    data = path.read_bytes()
    cut = data.index("ü".encode()) + 1 if name == "read_lines" else len(data) // 2  # text: within a character
    path.write_bytes(data[:cut])
    refuses(name, path)


@pytest.mark.parametrize("name", ["load_checkpoint", "Trainer.fit", "fit_language_model"])
@pytest.mark.parametrize("legacy", [False, True])
def test_a_malicious_pickle_is_refused_unread(name, legacy, tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "evil.pt"
    torch.save({"model": Evil(marker)}, path, _use_new_zipfile_serialization=not legacy)
    err = refuses(name, path, re.escape("it holds objects other than tensors and plain containers (posix.system)")
                  + ".*not loaded")
    assert not marker.exists()
    assert "weights_only" in str(err.__cause__.__cause__)  # torch's own refusal, chained
    if name == "load_checkpoint" and not legacy:  # the control: unpickled, the file does run its command
        torch.load(path, weights_only=False)
        assert marker.read_text() == "hacked\n"


def test_a_malicious_npz_is_refused_unread(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "evil.npz"
    np.savez(path, done=1, counts=np.array([Evil(marker)], dtype=object), weights=np.zeros((4, 3)),
             theta=np.zeros(3), rng_state="{}")
    refuses("diehl_cook.train", path, "Object arrays cannot be loaded when allow_pickle=False")
    assert not marker.exists()


def test_a_checkpoint_must_be_a_dict_with_the_owners_keys(tmp_path):
    path = tmp_path / "x.pt"
    torch.save(torch.ones(3), path)
    refuses("load_checkpoint", path, "it holds a Tensor, not a dict")
    torch.save({"model": {}, "epoch": 3}, path)
    err = refuses("Trainer.load_checkpoint", path, "it lacks the key\\(s\\) 'format', 'global_step', 'optimizer'")
    assert "(it holds 'model', 'epoch')" in str(err)
    refuses("fit_language_model", path, "it lacks the key\\(s\\) 'config'")
    with pytest.raises(ValueError, match="Trainer.load_state_dict: 'state' is not a Trainer state: it lacks"):
        trainer().load_state_dict({"epoch": 3})
    assert set(trainer().state_dict()) == set(na.training.trainer.CHECKPOINT_KEYS)


def test_a_path_parameter_must_be_a_path(tmp_path):
    with pytest.raises(TypeError, match="Trainer.fit: parameter 'resume' must be a file path .*, got 3"):
        trainer().fit(train_loader(), epochs=1, resume=3)
    with pytest.raises(TypeError, match="Trainer.load_checkpoint: parameter 'path' must be a file path"):
        trainer().load_checkpoint(3)
    with pytest.raises(TypeError, match="diehl_cook.train: parameter 'checkpoint' must be a file path"):
        dc.train(SMALL, np.zeros((2, 4)), checkpoint=3)
    with pytest.raises(TypeError, match="read_idx: parameter 'path' must be a file path"):
        read_idx(None)
    with pytest.raises(TypeError, match="load_corpus: parameter 'directory' must be a file path"):
        load_corpus(1.5)


def test_a_diehl_cook_checkpoint_is_checked(tmp_path):
    path = tmp_path / "dc.npz"
    state = np.random.default_rng(0).bit_generator.state
    np.savez(path, done=1, counts=np.zeros((1, 3)), weights=np.zeros((4, 3)))
    refuses("diehl_cook.train", path, "it lacks the array\\(s\\) 'theta', 'rng_state' \\(it holds 'done', ")
    np.savez(path, done=1, counts=np.zeros((1, 3)), weights=np.zeros((4, 3)), theta=np.zeros(3), rng_state="{no")
    refuses("diehl_cook.train", path, "JSONDecodeError")
    np.savez(path, done=1, counts=np.zeros((1, 3)), weights=np.zeros((4, 3)), theta=np.zeros(3),
             rng_state=json.dumps({**state, "bit_generator": "MT19937"}))
    refuses("diehl_cook.train", path)
    np.savez(path, done=-1, counts=np.zeros((1, 3)), weights=np.zeros((4, 3)), theta=np.zeros(3),
             rng_state=json.dumps(state))
    refuses("diehl_cook.train", path, "'done' must be a whole number >= 0")
    dc._save_checkpoint(path, 1, np.zeros((1, 3)), np.zeros((4, 3)), np.zeros(2), state)  # another run's theta
    with pytest.raises(ValueError, match="thresholds of shape \\(2,\\).*delete the file to start afresh"):
        dc.train(SMALL, np.zeros((2, 4)), checkpoint=path)


def test_idx_specifics(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"\0\0\x08\x01not gzip at all")
    refuses("read_idx", tmp_path / "x.gz", "BadGzipFile")
    (tmp_path / "x").write_bytes(b"\0\0\x08\x03\0\0\0\x02")  # 3 dimensions, one size
    refuses("read_idx", tmp_path / "x", "its header is truncated: 8 bytes, 3 dimensions need 16")
    (tmp_path / "x").write_bytes(b"")
    refuses("read_idx", tmp_path / "x", "its magic number is missing")
    with pytest.raises(FileNotFoundError, match=re.escape(f"parameter 'directory' must be a folder with the MNIST "
                                                           f"IDX files (train-images-idx3-ubyte, ...), got "
                                                           f"{str(tmp_path / 'no')!r}, which does not exist")):
        load_mnist_idx(tmp_path / "no")
    with pytest.raises(ValueError, match="must be a folder with the MNIST IDX files .*, which is a file"):
        load_mnist_idx(tmp_path / "x")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros(5, np.uint8))  # labels where the images belong
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=named("load_mnist_idx", tmp_path / "t10k-images-idx3-ubyte",
                                               "holds uint8 of shape \\(5,\\), not uint8 images")):
        load_mnist_idx(tmp_path, "test")
    (tmp_path / "t10k-images-idx3-ubyte").write_text(PASSWD)
    with pytest.raises(ValueError, match=named("load_mnist_idx", tmp_path / "t10k-images-idx3-ubyte",
                                               "is not an IDX file")):
        load_mnist_idx(tmp_path, "test")


def test_text_specifics(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    refuses("read_lines", path, "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9")
    path.write_bytes(b"abc\0def\n")
    refuses("read_lines", path, "it holds NUL bytes \\(the first at character 3\\): binary data, not text")
    with pytest.raises(FileNotFoundError, match="load_corpus: parameter 'directory' must be a folder with train.txt"):
        load_corpus(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="load_corpus: parameter 'directory' must be a folder .*, which is a file"):
        load_corpus(path)
    corpus = write_corpus({"train": ["a b"], "valid": ["a"], "test": ["b"]}, tmp_path / "ptb")
    (corpus / "valid.txt").unlink()
    (corpus / "valid.txt").mkdir()
    with pytest.raises(ValueError, match=named("load_corpus", corpus / "valid.txt", "is a folder, not a PTB")):
        load_corpus(corpus)
    (corpus / "valid.txt").rmdir()
    (corpus / "valid.txt").write_bytes(b"\xff\xfe binary")
    with pytest.raises(ValueError, match=named("load_corpus", corpus / "valid.txt", "is not a PTB/WikiText text")):
        load_corpus(corpus)


def test_an_hdf5_file_that_is_not_a_nir_graph_is_refused(tmp_path):
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("nir")
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = np.arange(3)
    refuses("from_nir", tmp_path / "data.h5", "KeyError")


def test_the_valid_files_load(tmp_path):
    """The writers above make files the loaders accept (so the refusals are about the damage)."""
    for name in ("load_checkpoint", "read_idx", "read_lines", "nir_latency"):
        path = file_for(name, tmp_path)
        LOADERS[name][3](path)
        LOADERS[name][0](path)
    LOADERS["read_idx .gz"][3](tmp_path / "x.gz")
    assert read_idx(tmp_path / "x.gz").shape == (5, 4, 4)
    LOADERS["Trainer.fit"][3](tmp_path / "t.pt")
    assert trainer().fit(train_loader(), epochs=0, resume=tmp_path / "t.pt") == []
