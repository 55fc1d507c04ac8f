"""preprocess.py: the formats it reads, what it writes, and how it refuses bad data."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

import contract
from tests.training.conftest import read_channel, run_preprocess


def _digits(n: int, seed: int = 0, shape: tuple[int, ...] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), np.arange(n, dtype=np.int64) % 10


def _write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image if image.ndim == 3 else image[..., None]).numpy())


def _jsonl(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob(f"*{contract.TRANSFORM_SUFFIX}"))
        for line in path.read_text().splitlines()
    ]


def test_reads_idx_npz_and_png_folders_and_writes_the_four_channels(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    idx_images, idx_labels = _digits(40, seed=1)
    _write_idx(raw / "train-images-idx3-ubyte.gz", idx_images, compress=True)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", idx_labels, compress=True)
    npz_images, npz_labels = _digits(40, seed=2)
    np.savez(raw / "more.npz", images=npz_images, labels=npz_labels)
    png_images, _ = _digits(20, seed=3)
    for i, image in enumerate(png_images):
        _write_png(raw / "pngs" / str(i % 10) / f"{i}.png", image)
    (raw / "README.txt").write_text("not data: skipped")

    assert run_preprocess("--input", raw, "--output-dir", tmp_path / "out") == 0

    out = tmp_path / "out"
    metadata = json.loads((out / contract.TRAIN_CHANNEL / contract.METADATA_FILE).read_text())
    assert metadata["counts"] == {"train": 70, "validation": 15, "test": 15, "transform": 15}
    shape = (metadata["height"], metadata["width"], metadata["channels"])
    assert (shape, metadata["num_classes"]) == ((28, 28, 1), 10)
    assert metadata["class_names"] == [str(i) for i in range(10)]
    for channel in (contract.VALIDATION_CHANNEL, contract.TEST_CHANNEL):
        assert json.loads((out / channel / contract.METADATA_FILE).read_text()) == metadata

    # Every source record is somewhere, its pixels and label intact.
    source = {
        pixels.tobytes(): int(label)
        for pixels, label in zip(
            np.concatenate([idx_images, npz_images, png_images]).reshape(100, -1),
            np.concatenate([idx_labels, npz_labels, np.arange(20) % 10]),
            strict=True,
        )
    }
    written = {}
    for channel in (contract.TRAIN_CHANNEL, contract.VALIDATION_CHANNEL, contract.TEST_CHANNEL):
        pixels, labels = read_channel(out / channel)
        written.update({p.astype(np.uint8).tobytes(): int(y) for p, y in zip(pixels, labels, strict=True)})
    assert written == source

    # The transform channel is the test records as JSON Lines, with ids naming their source file.
    records = _jsonl(out / contract.TRANSFORM_CHANNEL)
    test_pixels, test_labels = read_channel(out / contract.TEST_CHANNEL)
    assert sorted(tuple(r[contract.FEATURES_KEY]) for r in records) == sorted(
        tuple(int(v) for v in p) for p in test_pixels
    )
    assert sorted(r[contract.LABEL_KEY] for r in records) == sorted(test_labels.tolist())
    assert all(set(r) == {contract.RECORD_ID_KEY, contract.LABEL_KEY, contract.FEATURES_KEY} for r in records)
    ids = [str(r[contract.RECORD_ID_KEY]) for r in records]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(("train-images-idx3-ubyte-", "more-", "pngs/")) for i in ids)


def test_the_split_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    images, labels = _digits(60)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)

    def test_ids(name: str, seed: int) -> list[str]:
        assert run_preprocess("--input", tmp_path, "--output-dir", tmp_path / name, "--seed", seed) == 0
        return [r[contract.RECORD_ID_KEY] for r in _jsonl(tmp_path / name / contract.TRANSFORM_CHANNEL)]

    assert test_ids("a", 7) == test_ids("b", 7)
    assert test_ids("a", 7) != test_ids("c", 8)


def test_instances_write_distinct_files_and_their_counts_add_up(tmp_path: Path) -> None:
    """ShardedByS3Key: two instances, each with its own input files, one output prefix."""
    for index in range(2):
        images, labels = _digits(40, seed=index)
        (tmp_path / f"in-{index}").mkdir()
        np.savez(tmp_path / f"in-{index}" / f"share-{index}.npz", images=images, labels=labels)
    for index in range(2):
        code = run_preprocess(
            "--input",
            tmp_path / f"in-{index}",
            "--output-dir",
            tmp_path / "out",
            "--instance-index",
            index,
            "--instance-count",
            2,
            "--records-per-shard",
            10,
        )
        assert code == 0

    from tfrecord_io import read_metadata

    train = tmp_path / "out" / contract.TRAIN_CHANNEL
    assert len(list(train.glob(f"train-000-*{contract.TFRECORD_SUFFIX}"))) == 3  # 28 records, 10 a shard
    assert len(list(train.glob(f"train-001-*{contract.TFRECORD_SUFFIX}"))) == 3
    assert read_metadata(train).counts == {"train": 56, "validation": 12, "test": 12, "transform": 12}
    assert len(read_channel(train)[1]) == 56
    assert len(_jsonl(tmp_path / "out" / contract.TRANSFORM_CHANNEL)) == 12


def test_instance_place_comes_from_the_resource_config_under_the_base_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SageMaker writes resourceconfig.json; local mode moves /opt/ml per instance (SAGEMAKER_BASE_DIR)."""
    base = tmp_path / "opt-ml"
    (base / "config").mkdir(parents=True)
    (base / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2", "algo-3"]})
    )
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    images, labels = _digits(40)
    (tmp_path / "in").mkdir()
    np.savez(tmp_path / "in" / "share.npz", images=images, labels=labels)
    assert run_preprocess("--input", tmp_path / "in", "--output-dir", tmp_path / "out") == 0
    shards = sorted(
        p.name for p in (tmp_path / "out" / contract.TRAIN_CHANNEL).glob(f"*{contract.TFRECORD_SUFFIX}")
    )
    assert shards and all(name.startswith("train-001-") for name in shards)


def test_all_to_transform_writes_every_record_to_the_transform_channel_only(tmp_path: Path) -> None:
    images, labels = _digits(25)
    np.savez(tmp_path / "fresh.npz", images=images, labels=labels)
    assert run_preprocess("--input", tmp_path, "--output-dir", tmp_path / "out", "--all-to-transform") == 0
    records = _jsonl(tmp_path / "out" / contract.TRANSFORM_CHANNEL)
    assert [r[contract.LABEL_KEY] for r in records] == labels.tolist()
    assert records[3][contract.FEATURES_KEY] == images[3].reshape(-1).tolist()
    assert not (tmp_path / "out" / contract.TRAIN_CHANNEL).exists()


# --- bad data: one case per kind of problem; each must name the file and the problem -----------------


def _npz(**arrays: object) -> Callable[[Path], str]:
    def make(raw: Path) -> str:
        np.savez(raw / "data.npz", **arrays)  # type: ignore[arg-type]
        return "data.npz"

    return make


def _corrupt_npz(raw: Path) -> str:
    (raw / "data.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    return "data.npz"


def _idx_truncated(raw: Path) -> str:
    images, labels = _digits(10)
    _write_idx(raw / "t-images-idx3-ubyte", images)
    _write_idx(raw / "t-labels-idx1-ubyte", labels)
    data = (raw / "t-images-idx3-ubyte").read_bytes()
    (raw / "t-images-idx3-ubyte").write_bytes(data[:-100])
    return "t-images-idx3-ubyte"


def _idx_bad_magic(raw: Path) -> str:
    _, labels = _digits(10)
    _write_idx(raw / "t-labels-idx1-ubyte", labels)
    (raw / "t-images-idx3-ubyte").write_bytes(b"\x89PNG not idx at all")
    return "t-images-idx3-ubyte"


def _idx_without_labels(raw: Path) -> str:
    _write_idx(raw / "t-images-idx3-ubyte", _digits(10)[0])
    return "t-images-idx3-ubyte"


def _idx_mismatched(raw: Path) -> str:
    images, labels = _digits(10)
    _write_idx(raw / "t-images-idx3-ubyte", images)
    _write_idx(raw / "t-labels-idx1-ubyte", labels[:9])
    return "t-images-idx3-ubyte"


def _png_unknown_class(raw: Path) -> str:
    _write_png(raw / "cat" / "a.png", _digits(1)[0][0])
    return "cat"


def _png_corrupt(raw: Path) -> str:
    _write_png(raw / "3" / "a.png", _digits(1)[0][0])
    (raw / "3" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return "b.png"


def _png_wrong_shape(raw: Path) -> str:
    _write_png(raw / "3" / "a.png", _digits(1)[0][0])
    _write_png(raw / "3" / "b.png", _digits(1, shape=(20, 20))[0][0])
    return "b.png"


def _shape_differs_between_files(raw: Path) -> str:
    _npz(images=_digits(10)[0], labels=_digits(10)[1])(raw)
    small, labels = _digits(10, shape=(20, 20))
    np.savez(raw / "z-small.npz", images=small, labels=labels)
    return "z-small.npz"


def _too_few_for_every_channel(raw: Path) -> str:
    images, labels = _digits(3)
    np.savez(raw / "tiny.npz", images=images, labels=labels)
    return str(raw)  # the split, not one file, is the problem


BAD_DATA = {
    "corrupt npz": (_corrupt_npz, "corrupt .npz"),
    "npz without labels": (_npz(images=_digits(5)[0]), "missing array"),
    "npz images not uint8": (_npz(images=_digits(5)[0].astype(np.float32), labels=_digits(5)[1]), "uint8"),
    "npz flat images": (_npz(images=_digits(5)[0].reshape(5, -1), labels=_digits(5)[1]), "wrong shape"),
    "npz count mismatch": (_npz(images=_digits(5)[0], labels=_digits(4)[1]), "mismatched counts"),
    "npz no records": (_npz(images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, int)), "no records"),
    "label out of range": (_npz(images=_digits(5)[0], labels=np.array([1, 2, 10, 3, 4])), "label 10"),
    "negative label": (_npz(images=_digits(5)[0], labels=np.array([1, -1, 0, 3, 4])), "out of range"),
    "float labels": (_npz(images=_digits(5)[0], labels=np.ones(5, np.float32)), "integer"),
    "idx truncated": (_idx_truncated, "corrupt IDX"),
    "idx bad magic": (_idx_bad_magic, "bad magic"),
    "idx images without labels": (_idx_without_labels, "no labels file"),
    "idx count mismatch": (_idx_mismatched, "mismatched counts"),
    "png unknown class": (_png_unknown_class, "unknown label 'cat'"),
    "png corrupt": (_png_corrupt, "corrupt PNG"),
    "png wrong shape": (_png_wrong_shape, "wrong shape"),
    "shape differs between files": (_shape_differs_between_files, "wrong shape"),
    "empty channel": (_too_few_for_every_channel, "empty channel"),
    "no data at all": (str, "no raw data found"),
}


@pytest.mark.parametrize("make, problem", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_bad_data_stops_with_the_file_and_the_problem(
    make: Callable[[Path], str],
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    name = make(raw)
    message_file = tmp_path / "message"
    monkeypatch.setenv(contract.FAILURE_FILE_ENV, str(message_file))

    assert run_preprocess("--input", raw, "--output-dir", tmp_path / "out") == contract.INPUT_ERROR_EXIT_CODE

    message = message_file.read_text()
    assert message.startswith("preprocess.py: ")
    assert name in message
    assert problem in message
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob(f"*{contract.TFRECORD_SUFFIX}"))


@pytest.mark.parametrize(
    "args",
    [
        ["--train-ratio", "0.8"],  # 0.8 + 0.15 + 0.15 != 1
        ["--test-ratio", "0", "--train-ratio", "0.85"],
        ["--no-such-option"],
        ["--image-shape", "28x28"],
        ["--class-names", "cat"],
    ],
)
def test_bad_arguments_exit_2(args: list[str], tmp_path: Path) -> None:
    assert run_preprocess("--input", tmp_path, *args) == contract.INPUT_ERROR_EXIT_CODE
