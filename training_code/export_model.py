"""Export for TensorFlow Serving: ``<model_dir>/<MODEL_VERSION>/`` with one named signature."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

import contract


def export_for_serving(
    model: keras.Model, model_dir: str | Path, feature_size: int, *, is_chief: bool
) -> Path:
    """Write ``serving_default(features: float32[None, feature_size]) -> probabilities``.

    TF Serving (and so the SageMaker endpoint and batch transform) looks for numbered
    version folders and calls the default signature by its input and output names,
    which ``contract`` fixes. In multi-worker training every worker must run the
    export (saving may run collective ops), but only the chief's copy is kept.
    """
    target = Path(model_dir) / contract.MODEL_VERSION
    if not is_chief:
        target = Path(tempfile.mkdtemp(prefix="export-worker-")) / contract.MODEL_VERSION

    @tf.function(
        input_signature=[tf.TensorSpec([None, feature_size], tf.float32, name=contract.SERVING_INPUT_NAME)]
    )
    def serve(features: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.SERVING_OUTPUT_NAME: tf.cast(model(features, training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(contract.SERVING_SIGNATURE, serve)
    if target.exists():
        shutil.rmtree(target)  # a retried job must not mix old and new files
    archive.write_out(str(target), verbose=False)
    if not is_chief:
        shutil.rmtree(target.parent, ignore_errors=True)
    return target
