"""The pristine stub is found after edits, commits, CRLF checkouts and a lost snapshot."""

from __future__ import annotations

import subprocess

import pytest

from checker import catalog
from checker.practice import pristine

STUB = '"""Kata `gamma`."""\n\n\ndef f():\n    # TODO: write f.\n    raise NotImplementedError("f")\n'
EDITED = '"""Kata `gamma`."""\n\n\ndef f():\n    return 1\n'
PARTLY_EDITED = '"""Kata `gamma`."""\n\n\ndef f():\n    # TODO: write f.\n    return 2\n'
TOML = 'order = 1\n[title]\nen = "Gamma"\nzh = "伽马"\n'


def _git(folder, *arguments):
    subprocess.run(["git", *arguments], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository holding one kata, `gamma`, committed as its stub."""
    root = tmp_path / "repo"
    folder = root / "katas" / "gamma"
    folder.mkdir(parents=True)
    (folder / "gamma.py").write_text(STUB, encoding="utf-8")
    (folder / "kata.toml").write_text(TOML, encoding="utf-8")
    _git(root, "init", "-q")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "stub")
    hashes = tmp_path / "stub_hashes.txt"
    hashes.write_text(f"# comment\n{pristine.digest(STUB.encode())}  gamma\n", encoding="utf-8")
    monkeypatch.setattr(catalog, "KATAS_DIR", root / "katas")
    monkeypatch.setattr(pristine, "HASH_LIST", hashes)
    monkeypatch.setenv("KATA_STATE_DIR", str(tmp_path / "state"))
    catalog.all_katas.cache_clear()
    yield root
    catalog.all_katas.cache_clear()


def _commit_edit(root, text):
    (root / "katas" / "gamma" / "gamma.py").write_text(text, encoding="utf-8")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "mine")


def test_snapshot_taken_from_untouched_file(repo):
    taken = pristine.ensure_snapshots()

    kata = catalog.find_kata("gamma")
    assert taken == ["gamma"]
    assert pristine.snapshot_path(kata).read_text() == STUB


def test_committed_edits_do_not_hide_the_stub(repo):
    _commit_edit(repo, EDITED)
    _commit_edit(repo, PARTLY_EDITED)

    found = pristine.find_pristine(catalog.find_kata("gamma"))

    assert found.text.decode() == STUB
    assert found.verified
    assert found.source.startswith("git ")


def test_snapshot_taken_after_edit_is_the_stub(repo):
    _commit_edit(repo, EDITED)

    pristine.ensure_snapshots()

    assert pristine.snapshot_path(catalog.find_kata("gamma")).read_text() == STUB


def test_snapshot_used_without_git(repo):
    pristine.ensure_snapshots()
    (repo / ".git").rename(repo / "git-gone")
    _kata = catalog.find_kata("gamma")
    _kata.stub_path.write_text(EDITED, encoding="utf-8")

    found = pristine.find_pristine(_kata)

    assert found.text.decode() == STUB
    assert found.source == "snapshot"
    assert found.verified


def test_unlisted_kata_falls_back_to_stub_shape(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(pristine, "HASH_LIST", tmp_path / "empty.txt")
    _commit_edit(repo, PARTLY_EDITED)

    found = pristine.find_pristine(catalog.find_kata("gamma"))

    assert found.text.decode() == STUB
    assert not found.verified


def test_crlf_checkout_still_verifies(repo):
    kata = catalog.find_kata("gamma")
    kata.stub_path.write_bytes(STUB.replace("\n", "\r\n").encode())
    (repo / ".git").rename(repo / "git-gone")

    pristine.ensure_snapshots()

    found = pristine.find_pristine(kata)
    assert found.verified
    assert found.text.decode() == STUB


def test_update_hash_list_adds_new_version(repo, tmp_path):
    _commit_edit(repo, STUB + "\n# a later version of the stub\n")

    added = pristine.update_hash_list()

    assert len(added) == 1
    assert pristine.unlisted_katas() == []
    assert len(pristine.listed_hashes()["gamma"]) == 2


def test_untracked_stub_is_not_snapshotted(repo):
    folder = repo / "katas" / "delta"
    folder.mkdir()
    (folder / "delta.py").write_text(STUB, encoding="utf-8")
    (folder / "kata.toml").write_text(TOML.replace("order = 1", "order = 2"), encoding="utf-8")
    catalog.all_katas.cache_clear()

    taken = pristine.ensure_snapshots()

    assert taken == ["gamma"]


def test_committed_hash_list_is_well_formed():
    lines = [line for line in pristine.HASH_LIST.read_text().splitlines()
             if line and not line.startswith("#")]

    assert lines
    for line in lines:
        digest, name = line.split()
        assert len(digest) == 64 and name.isidentifier(), line
