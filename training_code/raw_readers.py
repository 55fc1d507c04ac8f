"""Readers for the raw formats preprocess.py accepts, each checking what it reads.

- MNIST IDX files, optionally gzipped: ``*images*idx3*`` paired with ``*labels*idx1*``
- ``.npz`` with ``images`` (N, H, W[, C]) uint8 and ``labels`` (N,)
- PNG files in folders named after their class (``<root>/<class>/<any>.png``)

Every problem raises ``DataError`` naming the file and what is wrong with it, so a
failed processing job says which object to fix.
"""

from __future__ import annotations

import gzip
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sagemaker_env import InputError

IDX_NAME = re.compile(r"idx\d", re.IGNORECASE)
_IDX_UBYTE = 0x08


class DataError(InputError):
    """Raw data that cannot be prepared; the message starts with the offending path."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class RawRecords:
    """Images (N, H, W, C) uint8 and labels (N,) int64 read from one source."""

    source: Path
    ids: list[str]
    images: np.ndarray
    labels: np.ndarray


def find_sources(root: Path) -> tuple[list[Path], list[Path], dict[Path, list[Path]], list[Path]]:
    """IDX image files, .npz files, PNGs per class folder, and files that are none of these."""
    idx, npz, skipped = [], [], []
    pngs: dict[Path, list[Path]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name.lower()
        if name.endswith(".npz"):
            npz.append(path)
        elif name.endswith(".png"):
            pngs.setdefault(path.parent, []).append(path)
        elif IDX_NAME.search(name):
            idx.append(path)
        else:
            skipped.append(path)
    return idx, npz, pngs, skipped


def read_idx(path: Path) -> np.ndarray:
    """An IDX array of unsigned bytes, its size checked against its header."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(path, f"cannot be read or decompressed ({error})") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(path, "corrupt IDX file: bad magic number")
    if data[2] != _IDX_UBYTE:
        raise DataError(path, f"IDX element type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(path, "corrupt IDX file: truncated header")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(path, f"corrupt IDX file: {len(data)} bytes, header {dims} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def labels_file_for(images_path: Path) -> Path:
    """MNIST's naming: train-images-idx3-ubyte[.gz] goes with train-labels-idx1-ubyte[.gz]."""
    name = images_path.name.replace("images", "labels").replace("idx3", "idx1")
    return images_path.with_name(name)


def read_idx_pair(images_path: Path, root: Path) -> RawRecords:
    labels_path = labels_file_for(images_path)
    if not labels_path.is_file():
        # With ShardedByS3Key an instance may get one file of a pair: say so.
        raise DataError(images_path, f"no labels file {labels_path.name} beside it (IDX files come in pairs)")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim not in (3, 4):
        raise DataError(images_path, f"wrong shape {images.shape}: IDX images must be (N, H, W[, C])")
    if labels.ndim != 1:
        raise DataError(labels_path, f"wrong shape {labels.shape}: IDX labels must be (N,)")
    return _records(images_path, images, labels, _record_prefix(images_path, root))


def read_npz(path: Path, root: Path) -> RawRecords:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"images", "labels"} - set(archive.files)
            if missing:
                raise DataError(path, f"missing array(s) {sorted(missing)}; needs 'images' and 'labels'")
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(path, f"corrupt .npz file ({error})") from error
    if images.dtype != np.uint8:
        raise DataError(path, f"images are {images.dtype}, must be uint8")
    if images.ndim not in (3, 4):
        raise DataError(path, f"wrong shape {images.shape}: images must be (N, H, W[, C])")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(path, f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    return _records(path, images, labels, _record_prefix(path, root))


def read_png_folder(
    folder: Path, files: Sequence[Path], class_names: Sequence[str], root: Path
) -> RawRecords:
    """Every PNG of one class folder, decoded with TensorFlow (the container has no Pillow)."""
    import tensorflow as tf

    if folder.name not in class_names:
        problem = f"unknown label {folder.name!r}: the folder name must be one of {list(class_names)}"
        raise DataError(folder, problem)
    images: list[np.ndarray] = []
    for path in files:
        try:
            image = tf.io.decode_png(path.read_bytes(), channels=0, dtype=tf.uint8).numpy()
        except (tf.errors.InvalidArgumentError, OSError) as error:
            raise DataError(path, "corrupt PNG: cannot be decoded") from error
        if images and image.shape != images[0].shape:
            problem = f"wrong shape {image.shape}, other images in {folder.name}/ are {images[0].shape}"
            raise DataError(path, problem)
        images.append(image)
    labels = np.full(len(images), class_names.index(folder.name), dtype=np.int64)
    ids = [_record_prefix(path, root) for path in files]
    return RawRecords(folder, ids, np.stack(images), labels)


def _record_prefix(path: Path, root: Path) -> str:
    """A record id stem that is unique across instances: the file's path under the input root."""
    relative = path.relative_to(root).as_posix()
    for suffix in (".gz", ".npz", ".png"):
        relative = relative.removesuffix(suffix)
    return relative


def _records(path: Path, images: np.ndarray, labels: np.ndarray, id_prefix: str) -> RawRecords:
    if len(images) != len(labels):
        raise DataError(path, f"mismatched counts: {len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise DataError(path, "holds no records")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    ids = [f"{id_prefix}-{i:06d}" for i in range(len(images))]
    return RawRecords(path, ids, images, labels.astype(np.int64))


def check_records(records: RawRecords, class_names: Sequence[str], shape: tuple[int, ...] | None) -> None:
    """Labels in range and the image shape the other sources (or ``--image-shape``) have."""
    if shape is not None and tuple(records.images.shape[1:]) != tuple(shape):
        raise DataError(records.source, f"wrong shape {records.images.shape[1:]}, expected {tuple(shape)}")
    bad = (records.labels < 0) | (records.labels >= len(class_names))
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            records.source,
            f"label {int(records.labels[first])} of record {first} is out of range 0..{len(class_names) - 1}",
        )


def read_all(
    root: Path, class_names: Sequence[str], shape: tuple[int, ...] | None = None
) -> list[RawRecords]:
    """Every record under ``root``, in a stable order (sorted paths), all checked."""
    if not root.is_dir():
        raise DataError(root, "input folder does not exist")
    idx, npz, pngs, skipped = find_sources(root)
    image_files = [p for p in idx if "images" in p.name]
    label_files = [p for p in idx if "labels" in p.name]
    for unnamed in sorted(set(idx) - set(image_files) - set(label_files)):
        raise DataError(unnamed, "IDX file name must say 'images' or 'labels' (MNIST naming)")
    for orphan in sorted(set(label_files) - {labels_file_for(p) for p in image_files}):
        raise DataError(orphan, "labels file without its images file (IDX files come in pairs)")
    for path in skipped:
        print(f"preprocess.py: skipping {path} (not IDX, .npz or .png)", flush=True)
    sources = [read_idx_pair(p, root) for p in image_files] + [read_npz(p, root) for p in npz]
    sources += [read_png_folder(folder, files, class_names, root) for folder, files in sorted(pngs.items())]
    if not sources:
        raise DataError(root, "no raw data found (expected IDX files, .npz files or class folders of PNGs)")
    expected = shape or tuple(sources[0].images.shape[1:])
    for records in sources:
        check_records(records, class_names, expected)
    return sources
