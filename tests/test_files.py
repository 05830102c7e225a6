"""Tests for gencompare.files: atomic writes."""

import pytest

from gencompare import files


def test_atomic_path_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "config.json"
    files.write_json_atomic(target, {"version": 1})
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as temporary:
            temporary.write_text("{half a fi")
            raise RuntimeError("killed mid-write")
    assert files.read_json(target) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_atomic_path_replaces_the_file_and_keeps_the_suffix_for_writers(tmp_path):
    target = tmp_path / "nested" / "model.weights.h5"
    with files.atomic_path(target) as temporary:
        assert temporary.name.endswith(".weights.h5") and temporary.parent == target.parent
        assert not temporary.exists()  # writers such as h5py refuse to open an existing file
        temporary.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["model.weights.h5"]


def test_write_text_atomic_overwrites(tmp_path):
    target = tmp_path / "notes.txt"
    files.write_text_atomic(target, "first")
    files.write_text_atomic(target, "second")
    assert target.read_text() == "second"
