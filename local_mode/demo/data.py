"""Offline demo data: scikit-learn's bundled handwritten digits as MNIST-like raw files.

``load_digits`` ships with scikit-learn (1,797 images, 8x8, values 0..16), so local
mode, tests and the benchmark need no download. Each image is upsampled 3x to
24x24, padded to 28x28 and scaled to 0..255 uint8, then written as the raw
``.npz`` that preprocess.py reads (``images`` (N, 28, 28), ``labels`` (N,)).

The ``shifted`` variant is the same digits after a deterministic distribution shift
(rotation, thicker strokes, sensor noise), strong enough that a model trained on
the clean digits alone scores well below 0.9 on it, while a model trained on both
scores well on both: the demo's "new data arrived, retrain" story.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console

    from pipeline_cli.backend import Backend

Variant = Literal["clean", "shifted"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
SIZE = 28
_UPSAMPLE = 3


def digits_images(variant: Variant = "clean", *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) int64) of one variant."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32) / 16.0  # 0..1
    large = np.kron(small, np.ones((1, _UPSAMPLE, _UPSAMPLE), dtype=np.float32))
    pad = (SIZE - large.shape[1]) // 2
    images = np.pad(large, ((0, 0), (pad, SIZE - large.shape[1] - pad), (pad, SIZE - large.shape[2] - pad)))
    if variant == "shifted":
        images = _shift(images, np.random.default_rng(seed))
    elif variant != "clean":
        raise ValueError(f"variant must be 'clean' or 'shifted', got {variant!r}")
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8), digits.target.astype(np.int64)


def write_digits_raw(
    directory: str | Path,
    *,
    variant: Variant = "clean",
    seed: int = 0,
    limit: int | None = None,
    filename: str | None = None,
) -> Path:
    """Write one variant as ``<directory>/digits-<variant>.npz`` and return its path.

    ``limit`` keeps the first N images (smaller test data); the same ``seed`` always
    gives the same shift, so the files are reproducible.
    """
    images, labels = digits_images(variant, seed=seed)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (filename or f"digits-{variant}.npz")
    np.savez_compressed(path, images=images, labels=labels)
    return path


def _shift(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate each digit by 15..30 degrees either way, thicken its strokes, add noise.

    Rotation and stroke width change what a small CNN keys on; the noise is what a
    different scanner adds. All from ``rng``, so deterministic for a seed.
    """
    from scipy import ndimage

    shifted = np.empty_like(images)
    for i, image in enumerate(images):
        angle = rng.uniform(15.0, 30.0) * rng.choice((-1.0, 1.0))
        rotated = ndimage.rotate(image, angle, reshape=False, order=1, mode="constant")
        shifted[i] = ndimage.grey_dilation(rotated, size=(2, 2))
    noise = rng.normal(0.0, 0.1, size=images.shape).astype(np.float32)
    return np.clip(shifted + noise, 0.0, 1.0)


def seed_demo_data(backend: Backend, scratch: Path, console: Console) -> dict[str, str]:
    """The clean digits where a run with every default finds them, as `mlpipeline data upload` puts them.

    Raw under the raw prefix the stack defaults to (retraining reads it), prepared by preprocess.py
    under the default prepared prefix (a plain `start` trains on it) and labelled under the default
    evaluation prefix (a plain `start -w evaluation` scores on it). Returns kind → S3 prefix.
    """
    from pipeline_cli.data_upload import (
        DataKind,
        check_prepared,
        check_raw,
        convert_labelled,
        destination,
        training_module,
        upload,
    )

    raw = write_digits_raw(scratch / "raw").parent
    preprocess = training_module("preprocess")
    prepared = scratch / "prepared"
    preprocess.prepare(preprocess.parse_args(["--input", str(raw), "--output-dir", str(prepared)]))
    checked = {
        DataKind.raw: check_raw(raw),
        DataKind.prepared: check_prepared(prepared),
        DataKind.labelled: convert_labelled(raw, scratch / "labelled"),
    }
    seeded: dict[str, str] = {}
    for kind, data in checked.items():
        uri = destination(backend, kind, None)
        upload(backend, uri, data.files, console)
        console.print(f"seeded {kind} digits ({data.summary}) at {uri}", soft_wrap=True, highlight=False)
        seeded[kind.value] = uri
    return seeded
