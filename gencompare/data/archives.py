"""Finding image files in a folder or inside .zip archives, reading them, and extracting zips safely.

Images are read straight out of the zip (no extraction needed). Zip member names are untrusted:
a member with an absolute path or a `..` component is never read and never written.
"""

import dataclasses
import os
import pathlib
import posixpath
import shutil
import threading
import zipfile

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# A single face image is kilobytes; anything this big is skipped unread (zip bombs included).
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Member:
    """One candidate image file.

    Attributes:
        container: The zip file it sits in, or the root folder for a loose file.
        name: Its path inside the zip, or relative to the root folder (always with "/").
        size: Its uncompressed size in bytes, as declared by the zip or the file system.
        in_zip: Whether `container` is a zip file.
    """

    container: pathlib.Path
    name: str
    size: int
    in_zip: bool

    @property
    def display_name(self):
        """A short name for log messages."""
        return f"{self.container.name}:{self.name}" if self.in_zip else self.name


def is_unsafe_member_name(name):
    """Whether an archive member name could escape the folder it is extracted into.

    Args:
        name: The member name as stored in the archive.

    Returns:
        True for absolute paths (`/x`, `\\x`, `C:x`), any `..` component, or NUL bytes.
    """
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or "\0" in normalised or (len(normalised) > 1 and normalised[1] == ":"):
        return True
    return ".." in normalised.split("/")


def _is_image_name(name):
    return posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _inside_folder(name, member_folder):
    return member_folder is None or member_folder in name.replace("\\", "/").split("/")[:-1]


def _is_hidden(name):
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def zip_files_in(folder):
    """The .zip files directly inside `folder`, sorted by name."""
    return sorted(path for path in pathlib.Path(folder).glob("*.zip") if path.is_file())


def list_zip_members(zip_path, member_folder=None):
    """Image members of one zip.

    Args:
        zip_path: The archive.
        member_folder: Keep only members inside a folder of this name, or None for all.

    Returns:
        (members, unsafe_names): the readable image members, and the names refused because they
        are absolute or contain `..`.

    Raises:
        zipfile.BadZipFile: The file is not a zip archive.
    """
    members, unsafe = [], []
    zip_path = pathlib.Path(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or not _is_image_name(name) or not _inside_folder(name, member_folder):
                continue
            if is_unsafe_member_name(name):  # before the hidden check: ".." also starts with "."
                unsafe.append(name)
                continue
            if _is_hidden(name):
                continue
            members.append(Member(zip_path, name, info.file_size, True))
    return members, unsafe


def list_folder_members(folder, member_folder=None):
    """Loose image files under `folder` (recursively, hidden files skipped, symlinks not followed).

    Args:
        folder: The root folder.
        member_folder: Keep only files inside a sub-folder of this name, or None for all.

    Returns:
        The image members sorted by name.
    """
    folder = pathlib.Path(folder)
    members = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for file_name in files:
            path = pathlib.Path(directory) / file_name
            name = path.relative_to(folder).as_posix()
            if _is_hidden(name) or not _is_image_name(name) or not _inside_folder(name, member_folder):
                continue
            if path.is_symlink() or not path.is_file():
                continue
            members.append(Member(folder, name, path.stat().st_size, False))
    return sorted(members, key=lambda member: member.name)


def list_members(path, member_folder=None):
    """All image members of a zip, or of a folder: its zips when it holds any, else its loose files.

    Args:
        path: A .zip file or a folder.
        member_folder: As for `list_zip_members`.

    Returns:
        (members, unsafe_names), unsafe names prefixed with their zip's name.
    """
    path = pathlib.Path(path)
    zips = [path] if path.is_file() else zip_files_in(path)
    if not zips:
        return list_folder_members(path, member_folder), []
    members, unsafe = [], []
    for zip_path in zips:
        zip_members, zip_unsafe = list_zip_members(zip_path, member_folder)
        members.extend(zip_members)
        unsafe.extend(f"{zip_path.name}:{name}" for name in zip_unsafe)
    return members, unsafe


def source_files(path, member_folder=None):
    """The files `list_members` would read, found without opening any zip (cheap for cache keys).

    Args:
        path: A .zip file or a folder.
        member_folder: As for `list_zip_members`.

    Returns:
        The zip files, or the loose image files when the folder holds no zip.
    """
    path = pathlib.Path(path)
    zips = [path] if path.is_file() else zip_files_in(path)
    if zips:
        return zips
    return [member.container / member.name for member in list_folder_members(path, member_folder)]


class MemberReader:
    """Reads member bytes from many threads: each thread keeps its own open handle per zip.

    Use as a context manager so the handles are closed afterwards.
    """

    def __init__(self):
        self._local = threading.local()
        self._opened = []
        self._lock = threading.Lock()

    def _archive(self, zip_path):
        handles = getattr(self._local, "handles", None)
        if handles is None:
            handles = self._local.handles = {}
        if zip_path not in handles:
            handles[zip_path] = zipfile.ZipFile(zip_path)
            with self._lock:
                self._opened.append(handles[zip_path])
        return handles[zip_path]

    def read(self, member):
        """The bytes of one member.

        Raises:
            OSError, zipfile.BadZipFile: The file or member cannot be read (e.g. a CRC error).
        """
        if member.in_zip:
            return self._archive(member.container).read(member.name)
        return (member.container / member.name).read_bytes()

    def close(self):
        """Closes every zip handle opened by any thread."""
        with self._lock:
            for archive in self._opened:
                archive.close()
            self._opened.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


def extract_zip_safely(zip_path, target):
    """Extracts a zip into `target`, refusing the whole archive if any member could escape it.

    Every member name is checked before anything is written, so a hostile archive leaves no
    partial extraction behind.

    Args:
        zip_path: The archive.
        target: The folder to extract into (created if needed).

    Returns:
        The list of extracted file paths.

    Raises:
        ValueError: A member has an absolute path or a `..` component; the message names it.
    """
    target = pathlib.Path(target).resolve()
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
        for info in infos:
            destination = (target / info.filename).resolve()
            if is_unsafe_member_name(info.filename) or not destination.is_relative_to(target):
                raise ValueError(f"{zip_path}: refusing to extract, member {info.filename!r} would be "
                                 f"written outside {target}. The archive is damaged or malicious.")
        extracted = []
        for info in infos:
            destination = target / info.filename
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
            extracted.append(destination)
    return extracted
