"""The offline demo digits: MNIST-like, reproducible, and a shifted variant that really differs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from local_mode.demo.data import digits_images, write_digits_raw


def test_clean_digits_are_mnist_like_uint8_images(tmp_path: Path) -> None:
    path = write_digits_raw(tmp_path, variant="clean")
    assert path == tmp_path / "digits-clean.npz"
    with np.load(path) as data:
        images, labels = data["images"], data["labels"]
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0
    assert not images[:, :2].any() and not images[:, :, -2:].any()  # a blank border, as in MNIST


def test_the_shift_is_deterministic_per_seed_and_changes_every_image() -> None:
    clean, labels = digits_images("clean")
    shifted, shifted_labels = digits_images("shifted", seed=0)
    assert (labels == shifted_labels).all()
    assert (digits_images("shifted", seed=0)[0] == shifted).all()
    assert not (digits_images("shifted", seed=1)[0] == shifted).all()
    differs = (np.abs(shifted.astype(int) - clean.astype(int)) > 64).mean(axis=(1, 2))
    assert (differs > 0.02).all()


def test_limit_and_unknown_variant(tmp_path: Path) -> None:
    with np.load(write_digits_raw(tmp_path, variant="shifted", limit=50)) as data:
        assert data["images"].shape == (50, 28, 28)
    with pytest.raises(ValueError, match="variant"):
        digits_images("blurred")  # type: ignore[arg-type]
