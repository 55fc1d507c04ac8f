"""The prepared-data format (docs/architecture.md) and the tf.data pipeline that reads it.

Written by preprocess.py, read by train.py: one module so both sides agree on the
feature spec and on ``metadata.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorflow as tf
from distribution import Devices, distribute_dataset
from sagemaker_env import InputError, channel_sharded_by_s3_key

import contract

IMAGE_KEY = "image"
LABEL_KEY = "label"
SHAPE_KEYS = ("height", "width", "channels")

# Only what the pipeline needs is parsed; height/width/channels stay in the records
# so a shard describes itself, but metadata.json already gives the shape.
_PARSE_SPEC = {
    IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}

# Several preprocessing instances write into one S3 prefix: each also leaves its
# own counts in a part file, because their metadata.json overwrite each other.
METADATA_PART_GLOB = "metadata-*-of-*.json"


def metadata_part_name(instance_index: int, instance_count: int) -> str:
    return f"metadata-{instance_index:03d}-of-{instance_count:03d}.json"


@dataclass(frozen=True)
class DatasetMetadata:
    height: int
    width: int
    channels: int
    num_classes: int
    class_names: tuple[str, ...]
    counts: dict[str, int]

    @property
    def feature_size(self) -> int:
        """Length of one flattened image: the serving input is [None, feature_size]."""
        return self.height * self.width * self.channels

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "counts": dict(self.counts),
        }


def read_metadata(channel: str | Path) -> DatasetMetadata:
    """``metadata.json`` of a channel folder, with counts summed over per-instance part files."""
    folder = Path(channel)
    path = folder / contract.METADATA_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        metadata = DatasetMetadata(
            height=int(raw["height"]),
            width=int(raw["width"]),
            channels=int(raw["channels"]),
            num_classes=int(raw["num_classes"]),
            class_names=tuple(str(name) for name in raw.get("class_names", range(int(raw["num_classes"])))),
            counts={str(k): int(v) for k, v in raw.get("counts", {}).items()},
        )
    except FileNotFoundError as error:
        raise InputError(f"{path}: missing; the channel must hold the output of preprocess.py") from error
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InputError(f"{path}: not a valid metadata file: {error!r}") from error
    parts = sorted(folder.glob(METADATA_PART_GLOB))
    if parts:
        counts: dict[str, int] = {}
        for part in parts:
            for name, count in json.loads(part.read_text(encoding="utf-8")).get("counts", {}).items():
                counts[name] = counts.get(name, 0) + int(count)
        metadata = dataclasses.replace(metadata, counts=counts)
    if min(metadata.height, metadata.width, metadata.channels, metadata.num_classes) < 1:
        raise InputError(f"{path}: shape and num_classes must be positive: {metadata}")
    return metadata


def write_metadata(folder: Path, metadata: DatasetMetadata) -> None:
    (folder / contract.METADATA_FILE).write_text(json.dumps(metadata.to_json(), indent=2), encoding="utf-8")


def encode_example(pixels: bytes, label: int, height: int, width: int, channels: int) -> bytes:
    """One serialized ``tf.train.Example`` in the documented feature layout."""

    def int64(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    features = {
        IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels])),
        LABEL_KEY: int64(label),
        "height": int64(height),
        "width": int64(width),
        "channels": int64(channels),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def list_shards(channel: str | Path) -> list[str]:
    """The TFRecord shards of a channel folder, sorted so every worker sees the same order."""
    shards = sorted(str(path) for path in Path(channel).glob(f"*{contract.TFRECORD_SUFFIX}"))
    if not shards:
        raise InputError(f"{channel}: no *{contract.TFRECORD_SUFFIX} files")
    return shards


def fits_in_memory(num_records: int, feature_size: int, budget_fraction: float = 0.25) -> bool:
    """Whether caching the serialized records takes at most a quarter of this host's RAM."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return False
    record_bytes = feature_size + 64  # pixels plus the Example's framing and labels
    return num_records * record_bytes <= total * budget_fraction


def make_dataset(
    shards: Sequence[str],
    feature_size: int,
    *,
    batch_size: int,
    shuffle: bool,
    repeat: bool,
    num_pipelines: int = 1,
    pipeline_index: int = 0,
    cache: bool = True,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 pixels [B, feature_size], int64 labels [B]).

    Files are split across input pipelines (one per worker) when there are enough of
    them, else records are; files are interleaved, the serialized records cached
    (small, and FastFile mode then reads S3 once), shuffled, batched and only then
    parsed, so ``parse_example`` runs once per batch instead of once per image.
    ``repeat`` repeats whole passes (the last, partial batch included), so with
    ``steps_for(records, batch_size)`` steps every epoch is exactly one pass.
    """
    files = tf.data.Dataset.from_tensor_slices(list(shards))
    shard_records = False
    if num_pipelines > 1:
        if len(shards) >= num_pipelines:
            files = files.shard(num_pipelines, pipeline_index)
        else:
            shard_records = True
    if shuffle:
        files = files.shuffle(len(shards), seed=seed)
    records = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=max(1, min(len(shards), 8)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not shuffle,
    )
    if shard_records:
        records = records.shard(num_pipelines, pipeline_index)
    if cache:
        records = records.cache()
    if shuffle:
        records = records.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)

    def parse_batch(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, _PARSE_SPEC)
        pixels = tf.reshape(tf.io.decode_raw(parsed[IMAGE_KEY], tf.uint8), [-1, feature_size])
        return tf.cast(pixels, tf.float32), parsed[LABEL_KEY]

    batches = records.batch(batch_size, drop_remainder=False)
    if repeat:
        batches = batches.repeat()
    batches = batches.map(parse_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def steps_for(num_records: int, global_batch_size: int) -> int:
    """Steps that cover ``num_records`` once, the last batch partial."""
    return max(1, math.ceil(num_records / global_batch_size))


@dataclass(frozen=True)
class TrainingData:
    """The train and validation channels as train.py feeds them to ``model.fit``."""

    metadata: DatasetMetadata
    channels: dict[str, Path]
    counts: dict[str, int]
    cache: bool

    @classmethod
    def from_channels(cls, train: str | Path, validation: str | Path, *, cache: bool | None) -> TrainingData:
        """Reads both metadata files; ``cache=None`` caches when the records fit in memory."""
        metadata = read_metadata(train)
        counts = {
            contract.TRAIN_CHANNEL: metadata.counts.get(contract.TRAIN_CHANNEL, 0),
            contract.VALIDATION_CHANNEL: read_metadata(validation).counts.get(contract.VALIDATION_CHANNEL, 0),
        }
        if min(counts.values()) < 1:
            raise InputError(f"{train}: metadata counts no train or validation records: {counts}")
        if cache is None:
            cache = fits_in_memory(sum(counts.values()), metadata.feature_size)
        channels = {contract.TRAIN_CHANNEL: Path(train), contract.VALIDATION_CHANNEL: Path(validation)}
        return cls(metadata, channels, counts, cache)

    def input(self, channel: str, devices: Devices, batch_size: int, *, seed: int | None = None) -> Any:
        """Repeating batches, shuffled for training; ``model.fit`` takes ``steps`` of them per epoch.

        Repeating with explicit steps, rather than running a finite dataset dry, keeps
        the workers of a multi-worker job in lockstep even when their shares differ.
        """
        training = channel == contract.TRAIN_CHANNEL
        shards = list_shards(self.channels[channel])
        return distribute_dataset(
            devices,
            batch_size,
            lambda batch, pipelines, index: make_dataset(
                shards, self.metadata.feature_size, batch_size=batch, shuffle=training,
                repeat=True, num_pipelines=pipelines,
                pipeline_index=index, cache=self.cache, seed=seed,
            ),
            shard=not channel_sharded_by_s3_key(channel),
        )

    def steps(self, channel: str, batch_size: int) -> int:
        return steps_for(self.counts[channel], batch_size)

    def describe(self) -> str:
        counts = ", ".join(f"{n} {channel}" for channel, n in self.counts.items())
        shape = f"{self.metadata.height}x{self.metadata.width}x{self.metadata.channels}"
        return f"{counts} records of {shape}, cache={self.cache}"
