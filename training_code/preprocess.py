"""Prepare raw images for training: a SageMaker Processing job (TF container) or a local run.

    python preprocess.py --input DIR --output-dir DIR [--train-ratio 0.7 --validation-ratio 0.15 ...]

Reads every raw file under --input (IDX, .npz, class folders of PNGs: raw_readers.py),
splits the records with a seeded shuffle and writes

    <output>/train|validation|test/   *.tfrecord shards + metadata.json
    <output>/transform/                *.jsonl  {"id", "label", "features"}, the test records

or, with --all-to-transform, every record to transform/ only (fresh labelled
evaluation data). With ShardedByS3Key each instance gets part of the files: it
prepares only those and names its outputs after its instance index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from raw_readers import DataError, read_all
from sagemaker_env import ArgumentParser, InputError, failure_file, report_failure
from tfrecord_io import DatasetMetadata, encode_example, metadata_part_name, write_metadata

import contract

PROCESSING = Path("/opt/ml/processing")
# SageMaker's toolkits relocate /opt/ml with SAGEMAKER_BASE_DIR (local mode gives each instance its own).
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"


def resource_config_path() -> Path:
    return Path(os.environ.get(BASE_DIR_ENV, "/opt/ml")) / "config" / "resourceconfig.json"


SPLIT_CHANNELS = (contract.TRAIN_CHANNEL, contract.VALIDATION_CHANNEL, contract.TEST_CHANNEL)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(
        description=__doc__, allow_abbrev=False, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--input", type=Path, default=PROCESSING / "input" / "raw")
    parser.add_argument("--output-dir", type=Path, default=PROCESSING, help="parent of the channel folders")
    for channel in contract.ALL_CHANNELS:
        parser.add_argument(f"--{channel}-output", type=Path, help=f"overrides <output-dir>/{channel}")
    parser.add_argument("--train-ratio", type=float, default=0.70)
    parser.add_argument("--validation-ratio", type=float, default=0.15)
    parser.add_argument("--test-ratio", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-to-transform", action="store_true", help="every record to transform/ only")
    parser.add_argument(
        "--class-names",
        default=",".join(str(i) for i in range(10)),
        help="comma-separated; a label is an index into it, a PNG folder one of its names",
    )
    parser.add_argument("--image-shape", help="H,W,C every image must have (default: that of the first file)")
    parser.add_argument("--records-per-shard", type=int, default=10_000)
    parser.add_argument("--instance-index", type=int, help="default: from /opt/ml/config/resourceconfig.json")
    parser.add_argument("--instance-count", type=int)
    args = parser.parse_args(argv)
    ratios = (args.train_ratio, args.validation_ratio, args.test_ratio)
    if min(ratios) <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise InputError(f"split ratios must be positive and sum to 1, got {ratios}")
    if args.records_per_shard < 1:
        raise InputError("--records-per-shard must be >= 1")
    args.class_names = [name.strip() for name in args.class_names.split(",") if name.strip()]
    if len(args.class_names) < 2 or len(set(args.class_names)) != len(args.class_names):
        raise InputError(f"--class-names needs at least two distinct names, got {args.class_names}")
    try:
        args.image_shape = tuple(int(d) for d in args.image_shape.split(",")) if args.image_shape else None
    except ValueError as error:
        raise InputError(f"--image-shape must be H,W,C, got {args.image_shape!r}") from error
    args.instance_index, args.instance_count = _instance(args.instance_index, args.instance_count)
    return args


def _instance(index: int | None, count: int | None) -> tuple[int, int]:
    """This instance's place among the job's instances, for unique output names."""
    resource_config = resource_config_path()
    if index is None and count is None and resource_config.is_file():
        config = json.loads(resource_config.read_text(encoding="utf-8"))
        return config["hosts"].index(config["current_host"]), len(config["hosts"])
    index, count = index or 0, count or 1
    if not 0 <= index < count:
        raise InputError(f"--instance-index {index} must be in 0..{count - 1}")
    return index, count


def split(num_records: int, ratios: Sequence[float], seed: int, source: Path) -> dict[str, np.ndarray]:
    """Record indices per channel: a seeded permutation cut by the ratios (same input, same split)."""
    order = np.random.default_rng(seed).permutation(num_records)
    n_train = round(num_records * ratios[0])
    n_validation = round(num_records * ratios[1])
    cuts = {
        contract.TRAIN_CHANNEL: order[:n_train],
        contract.VALIDATION_CHANNEL: order[n_train : n_train + n_validation],
        contract.TEST_CHANNEL: order[n_train + n_validation :],
    }
    for channel, indices in cuts.items():
        if len(indices) == 0:
            problem = f"empty channel: {num_records} records leave {channel} with none at ratios {ratios}"
            raise DataError(source, problem)
    return cuts


def _clear(folder: Path, pattern: str) -> None:
    """Remove this instance's outputs of an earlier run, so no stale shard is read later."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(pattern):
        old.unlink()


def write_tfrecords(folder: Path, stem: str, images: np.ndarray, labels: np.ndarray, per_shard: int) -> None:
    _clear(folder, f"{stem}-*{contract.TFRECORD_SUFFIX}")
    height, width, channels = images.shape[1:]
    for shard, start in enumerate(range(0, len(images), per_shard)):
        with tf.io.TFRecordWriter(str(folder / f"{stem}-{shard:05d}{contract.TFRECORD_SUFFIX}")) as writer:
            for i in range(start, min(start + per_shard, len(images))):
                writer.write(encode_example(images[i].tobytes(), int(labels[i]), height, width, channels))


def write_transform(
    folder: Path, stem: str, ids: Sequence[str], images: np.ndarray, labels: np.ndarray, per_shard: int
) -> None:
    """JSON Lines for batch transform; only ``features`` reaches the model (InputFilter)."""
    _clear(folder, f"{stem}-*{contract.TRANSFORM_SUFFIX}")
    flat = images.reshape(len(images), -1)
    for shard, start in enumerate(range(0, len(images), per_shard)):
        with (folder / f"{stem}-{shard:05d}{contract.TRANSFORM_SUFFIX}").open("w", encoding="utf-8") as out:
            for i in range(start, min(start + per_shard, len(images))):
                record = {
                    contract.RECORD_ID_KEY: ids[i],
                    contract.LABEL_KEY: int(labels[i]),
                    contract.FEATURES_KEY: flat[i].tolist(),
                }
                out.write(json.dumps(record, separators=(",", ":")) + "\n")


def prepare(args: argparse.Namespace) -> dict[str, int]:
    """Read, split, write; returns the record count per channel written."""
    sources = read_all(args.input, args.class_names, args.image_shape)
    ids = [record_id for source in sources for record_id in source.ids]
    images = np.concatenate([source.images for source in sources])
    labels = np.concatenate([source.labels for source in sources])
    outputs = {
        channel: getattr(args, f"{channel}_output") or args.output_dir / channel
        for channel in contract.ALL_CHANNELS
    }
    # Channel name and instance index in every file name: several instances write one prefix.
    stem = f"{args.instance_index:03d}"

    if args.all_to_transform:
        write_transform(
            outputs[contract.TRANSFORM_CHANNEL],
            f"{contract.TRANSFORM_CHANNEL}-{stem}",
            ids,
            images,
            labels,
            args.records_per_shard,
        )
        return {contract.TRANSFORM_CHANNEL: len(ids)}

    cuts = split(len(ids), (args.train_ratio, args.validation_ratio, args.test_ratio), args.seed, args.input)
    counts = {channel: len(indices) for channel, indices in cuts.items()}
    counts[contract.TRANSFORM_CHANNEL] = counts[contract.TEST_CHANNEL]
    height, width, channels = images.shape[1:]
    classes = tuple(args.class_names)
    metadata = DatasetMetadata(height, width, channels, len(classes), classes, counts)
    for channel, indices in cuts.items():
        folder = outputs[channel]
        write_tfrecords(folder, f"{channel}-{stem}", images[indices], labels[indices], args.records_per_shard)
        write_metadata(folder, metadata)
        if args.instance_count > 1:
            part = folder / metadata_part_name(args.instance_index, args.instance_count)
            part.write_text(json.dumps(metadata.to_json()), encoding="utf-8")
    test = cuts[contract.TEST_CHANNEL]
    write_transform(
        outputs[contract.TRANSFORM_CHANNEL],
        f"{contract.TRANSFORM_CHANNEL}-{stem}",
        [ids[i] for i in test],
        images[test],
        labels[test],
        args.records_per_shard,
    )
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code: 0 done, 2 bad arguments or bad data, 1 any other failure.

    The reason goes to stderr and to /opt/ml/output/message (the processing job's
    ExitMessage), or to the file named by SM_OUTPUT_FAILURE.
    """
    failure = failure_file(contract.PROCESSING_MESSAGE_FILE)
    try:
        args = parse_args(argv)
        counts = prepare(args)
    except InputError as error:
        report_failure(failure, f"preprocess.py: {error}")
        return contract.INPUT_ERROR_EXIT_CODE
    except Exception as error:
        report_failure(failure, f"preprocess.py: {type(error).__name__}: {error}\n\n{traceback.format_exc()}")
        return 1
    instance = f"{args.instance_index + 1}/{args.instance_count}"
    print(f"preprocess.py: instance {instance} wrote {counts}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
