"""Finding images in folders and zips, reading them from threads, and refusing zip-slip members."""

import concurrent.futures
import zipfile

import pytest

from gencompare.data import archives


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("name, unsafe", [
    ("faces/1.jpg", False), ("a/b/c.png", False), ("..hidden.png", False),
    ("../evil.png", True), ("faces/../../evil.png", True), ("/etc/evil.png", True),
    ("\\windows\\evil.png", True), ("C:evil.png", True), ("faces\\..\\..\\evil.png", True),
])
def test_unsafe_member_names(name, unsafe):
    assert archives.is_unsafe_member_name(name) is unsafe


def test_zip_slip_archive_is_refused_before_anything_is_written(tmp_path):
    archive = _zip(tmp_path / "hostile.zip", {"ok/1.png": b"fine", "../../escaped.png": b"evil"})
    target = tmp_path / "deep" / "target"
    with pytest.raises(ValueError, match="escaped.png"):
        archives.extract_zip_safely(archive, target)
    assert not (tmp_path / "escaped.png").exists() and not (tmp_path / "deep" / "escaped.png").exists()
    assert not (target / "ok" / "1.png").exists(), "a refused archive leaves no partial extraction"


def test_safe_archive_is_extracted_inside_the_target(tmp_path):
    archive = _zip(tmp_path / "good.zip", {"faces/1.png": b"one", "faces/sub/2.png": b"two"})
    extracted = archives.extract_zip_safely(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in extracted) == ["faces/1.png", "faces/sub/2.png"]
    assert (tmp_path / "out" / "faces" / "sub" / "2.png").read_bytes() == b"two"


def test_zip_listing_filters_images_folders_and_unsafe_names(tmp_path):
    archive = _zip(tmp_path / "set.zip", {
        "set/img_align_celeba/1.jpg": b"a", "set/img_align_celeba/2.PNG": b"b",
        "set/list_attr.csv": b"c", "set/other/3.jpg": b"d", "__MACOSX/set/._1.jpg": b"e",
        "set/img_align_celeba/../../4.jpg": b"f",
    })
    members, unsafe = archives.list_zip_members(archive)
    assert sorted(m.name for m in members) == ["set/img_align_celeba/1.jpg", "set/img_align_celeba/2.PNG",
                                               "set/other/3.jpg"]
    assert unsafe == ["set/img_align_celeba/../../4.jpg"]
    inside, _ = archives.list_zip_members(archive, member_folder="img_align_celeba")
    assert [m.name for m in inside] == ["set/img_align_celeba/1.jpg", "set/img_align_celeba/2.PNG"]
    assert members[0].size == 1 and members[0].in_zip


def test_folder_prefers_its_zips_over_loose_files(tmp_path):
    (tmp_path / "loose.png").write_bytes(b"x")
    members, _ = archives.list_members(tmp_path)
    assert [m.name for m in members] == ["loose.png"]
    assert archives.source_files(tmp_path) == [tmp_path / "loose.png"]
    _zip(tmp_path / "b.zip", {"2.png": b"2"})
    _zip(tmp_path / "a.zip", {"1.png": b"1"})
    members, _ = archives.list_members(tmp_path)
    assert [m.display_name for m in members] == ["a.zip:1.png", "b.zip:2.png"]
    assert archives.source_files(tmp_path) == [tmp_path / "a.zip", tmp_path / "b.zip"]
    assert archives.source_files(tmp_path / "a.zip") == [tmp_path / "a.zip"]


def test_folder_listing_is_recursive_and_skips_hidden_and_non_images(tmp_path):
    for relative in ["b/2.jpg", "a/1.webp", ".hidden/3.png", "a/.4.png", "notes.txt"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"data")
    assert [m.name for m in archives.list_folder_members(tmp_path)] == ["a/1.webp", "b/2.jpg"]


def test_reader_serves_many_threads_and_closes_its_handles(tmp_path):
    contents = {f"{i}.png": bytes([i]) * (i + 1) for i in range(50)}
    archive = _zip(tmp_path / "many.zip", contents)
    members, _ = archives.list_zip_members(archive)
    with archives.MemberReader() as reader, concurrent.futures.ThreadPoolExecutor(4) as pool:
        read = dict(zip((m.name for m in members), pool.map(reader.read, members)))
        opened = list(reader._opened)
    assert read == contents
    assert opened and all(handle.fp is None for handle in opened), "every zip handle is closed"
