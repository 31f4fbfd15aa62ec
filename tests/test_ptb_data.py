"""PTB loader: md5 verification, clear errors for missing/corrupt files, token counts."""

import hashlib
from pathlib import Path

import pytest
import torch

from implicit_bias.ptb import data
from implicit_bias.ptb.data import PTBDataError

needs_ptb = pytest.mark.usefixtures("ptb_dir")  # skips without $PTB_DIR: tests/conftest.py


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return hashlib.md5(text.encode()).hexdigest()


def test_verify_file_accepts_matching_md5(tmp_path):
    md5 = _write(tmp_path / "ptb.valid.txt", "a b c\n")
    assert data.verify_file(tmp_path / "ptb.valid.txt", md5) == tmp_path / "ptb.valid.txt"


def test_corrupt_file_is_named_with_the_fix(tmp_path):
    md5 = _write(tmp_path / "ptb.valid.txt", "a b c\n")
    (tmp_path / "ptb.valid.txt").write_text("a b d\n")  # one byte changed
    with pytest.raises(PTBDataError, match=r"ptb\.valid\.txt is corrupt.*PTB_DIR"):
        data.verify_file(tmp_path / "ptb.valid.txt", md5)


def test_missing_file_in_ptb_dir_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DIR", str(tmp_path))
    with pytest.raises(PTBDataError, match=r"not found: .*ptb\.train\.txt.*PTB_DIR"):
        data.resolve_data_dir()


def test_wrong_md5_of_real_file_name(tmp_path, monkeypatch):
    """A file with the right name but other content (a stand-in for a truncated download)."""
    (tmp_path / "ptb.train.txt").write_text("not the treebank\n")
    (tmp_path / "ptb.valid.txt").write_text("not the treebank\n")
    with pytest.raises(PTBDataError, match=r"ptb\.train\.txt is corrupt: md5 \w+, expected f26c4b92"):
        data.resolve_data_dir(tmp_path)


def test_download_is_verified(tmp_path, monkeypatch):
    """No network: the 'download' writes a wrong file, which must be rejected by its md5."""
    monkeypatch.delenv("PTB_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(data.urllib.request, "urlretrieve",
                        lambda url, dest: Path(dest).write_text("truncated\n"))
    with pytest.raises(PTBDataError, match="corrupt"):
        data.resolve_data_dir()
    assert data.default_cache_dir() == tmp_path / "implicit_bias" / "ptb"


def test_tokenisation_rule(tmp_path):
    (tmp_path / "f.txt").write_text("the cat\n sat \n")
    assert data.read_tokens(tmp_path / "f.txt") == ["the", "cat", "<eos>", "sat", "<eos>"]


@needs_ptb
def test_full_training_split_has_929589_tokens():
    corpus = data.load_corpus()
    assert corpus.train.numel() == 929_589
    assert corpus.vocab_size == 10_000
    x, y = data.make_chunks(corpus.train)
    assert x.shape == (26_559, 35) and torch.equal(x[:, 1:], y[:, :-1])


@needs_ptb
def test_cpu_slice_has_its_own_vocabulary():
    corpus = data.load_corpus(train_tokens=5000, valid_tokens=3500)
    assert corpus.vocab_size == 1326
    assert int(corpus.train.max()) == 1325 and corpus.valid.numel() == 3500


@needs_ptb
def test_full_vocabulary_encodes_the_same_prefix():
    own = data.load_corpus(train_tokens=5000, valid_tokens=3500)
    full = data.load_corpus(train_tokens=5000, valid_tokens=3500, vocab="full")
    assert full.vocab_size == 10_000 and full.train.numel() == 5000
    # the same words, under other ids: 1,326 of the 10,000 rows are ever seen
    assert [full.words[i] for i in full.train] == [own.words[i] for i in own.train]
    assert len(set(full.train.tolist())) == len(set(own.train.tolist()))
    with pytest.raises(ValueError, match="vocab='all' is invalid: must be one of"):
        data.load_corpus(train_tokens=5000, vocab="all")
