"""PTB loader: md5 verification, clear errors for missing/corrupt files, token counts."""

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pooch
import pytest
import requests
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


def _fake_http(monkeypatch, serve):
    """No network: pooch's HTTP downloader writes ``serve(url)`` (text) or raises what it raises;
    returns the list of URLs asked for."""
    asked = []

    def download(self, url, output_file, pooch_obj, check_only=False):
        asked.append(url)
        Path(output_file).write_text(serve(url))

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", download)
    return asked


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """No ``$PTB_DIR`` and an empty user cache under ``tmp_path``; returns the cache directory."""
    monkeypatch.delenv("PTB_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return data.default_cache_dir()


def test_download_is_verified(empty_cache, tmp_path, monkeypatch):
    """The 'download' writes a wrong file, which must be rejected by its md5 and not kept."""
    _fake_http(monkeypatch, lambda url: "truncated\n")
    with pytest.raises(PTBDataError, match="corrupt"):
        data.resolve_data_dir()
    assert data.default_cache_dir() == tmp_path / "implicit_bias" / "ptb"
    assert not (empty_cache / "ptb.train.txt").exists()


def test_download_fills_the_cache(empty_cache, monkeypatch):
    """A download whose md5 matches lands in the cache; a second lookup downloads nothing."""
    texts = {"ptb.train.txt": "a b\n", "ptb.valid.txt": "b a\n", "ptb.test.txt": "a\n"}
    files = {split: (name, hashlib.md5(texts[name].encode()).hexdigest())
             for split, (name, _) in data.PTB_FILES.items()}
    monkeypatch.setattr(data, "PTB_FILES", files)
    asked = _fake_http(monkeypatch, lambda url: texts[url.rsplit("/", 1)[-1]])
    assert data.resolve_data_dir() == empty_cache
    assert asked == [data.PTB_URL + "ptb.train.txt", data.PTB_URL + "ptb.valid.txt"]
    assert (empty_cache / "ptb.valid.txt").read_text() == "b a\n"
    data.resolve_data_dir()
    assert len(asked) == 2


class _QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output free of access logs
        pass


def test_download_over_real_http(empty_cache, tmp_path, monkeypatch):
    """pooch's own HTTP downloader (no fake) against a local server that serves tiny stand-ins."""
    served = tmp_path / "served"
    served.mkdir()
    files = {split: (name, _write(served / name, f"{split} words\n"))
             for split, (name, _) in data.PTB_FILES.items()}
    monkeypatch.setattr(data, "PTB_FILES", files)
    handler = functools.partial(_QuietFileHandler, directory=str(served))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setattr(data, "PTB_URL", f"http://127.0.0.1:{server.server_port}/")
        try:
            assert data.resolve_data_dir() == empty_cache
        finally:
            server.shutdown()
    assert (empty_cache / "ptb.train.txt").read_text() == "train words\n"


def test_corrupt_cached_file_is_reported_not_replaced(empty_cache, monkeypatch):
    """A cached file with the wrong md5 raises the corrupt-file error; nothing is downloaded."""
    empty_cache.mkdir(parents=True)
    for name in ("ptb.train.txt", "ptb.valid.txt"):
        (empty_cache / name).write_text("not the treebank\n")
    asked = _fake_http(monkeypatch, lambda url: "never served\n")
    with pytest.raises(PTBDataError, match=r"ptb\.train\.txt is corrupt.*PTB_DIR.*remove the file"):
        data.resolve_data_dir()
    assert asked == []


def test_unreachable_download_says_how_to_get_the_data(empty_cache, monkeypatch):
    def refuse(url):
        raise requests.exceptions.ConnectionError("name resolution failed")

    _fake_http(monkeypatch, refuse)
    with pytest.raises(PTBDataError, match=r"Could not download .*ptb\.train\.txt .*name "
                                           r"resolution failed.*by hand into .*PTB_DIR"):
        data.resolve_data_dir()
    assert not (empty_cache / "ptb.train.txt").exists()


def test_no_download_when_disallowed(empty_cache, monkeypatch):
    asked = _fake_http(monkeypatch, lambda url: "never served\n")
    with pytest.raises(PTBDataError, match=r"not found: .*ptb\.train\.txt"):
        data.resolve_data_dir(download=False)
    assert asked == []


def test_tokenisation_rule(tmp_path):
    (tmp_path / "f.txt").write_text("the cat\n sat \n")
    assert data.read_tokens(tmp_path / "f.txt") == ["the", "cat", "<eos>", "sat", "<eos>"]


@needs_ptb
def test_full_training_split_has_929589_tokens():
    corpus = data.load_corpus()
    assert corpus.train.numel() == 929_589
    assert corpus.vocab_size == 10_000
    x, y = data.make_chunks(corpus.train)
    assert x.shape == (26_559, 35), x.shape
    torch.testing.assert_close(x[:, 1:], y[:, :-1], rtol=0, atol=0)


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
