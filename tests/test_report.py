"""Provenance is read once per process: later edits on disk do not relabel a running job's results."""

from implicit_bias import report


def test_source_hash_is_pinned_at_the_first_call(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(report, "_PACKAGE_DIR", package)
    report.source_hash.cache_clear()
    try:
        first = report.source_hash()
        (package / "a.py").write_text("x = 2\n")      # the package is edited while a job runs
        assert report.source_hash() == first
        report.source_hash.cache_clear()               # a new process sees the edit
        assert report.source_hash() != first
    finally:
        report.source_hash.cache_clear()
