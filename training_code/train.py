"""Train the digits CNN. SageMaker script-mode entry point; runs the same way by hand:

    python train.py --epochs N --batch-size N --learning-rate X \\
        --train DIR --validation DIR --model-dir DIR [--checkpoint-dir DIR]

Data -> model -> train -> export. Where things are, how many devices train and in
which precision come from the SageMaker environment (sagemaker_env.py,
distribution.py); the data format lives in tfrecord_io.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import keras
from digits_cnn import build_model
from distribution import setup_devices
from epoch_metrics import MetricLineLogger
from export_model import export_for_serving
from sagemaker_env import (
    ArgumentParser,
    InputError,
    channel_dir,
    checkpoint_dir,
    failure_file,
    model_dir,
    report_failure,
    str_to_bool,
)
from tfrecord_io import TrainingData

import contract


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(
        description=__doc__, allow_abbrev=False, formatter_class=argparse.RawTextHelpFormatter
    )
    # Hyperparameters: SageMaker passes each one as "--name value". The workflow always passes these
    # three, so they have no default here: cdk.json's are the defaults (lambdas/run_settings.py).
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="global batch, split over all replicas")
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", default="auto", help="auto|true|false|<keras policy>; GPU only")
    parser.add_argument("--xla", type=str_to_bool, nargs="?", const=True, default=False, help="GPU only")
    parser.add_argument("--cache", default="auto", help="auto|true|false: keep the records in memory")
    # Paths: the SageMaker environment by default, explicit when run by hand.
    parser.add_argument("--train", default=channel_dir(contract.TRAIN_CHANNEL))
    parser.add_argument("--validation", default=channel_dir(contract.VALIDATION_CHANNEL))
    parser.add_argument("--model-dir", default=model_dir())
    parser.add_argument("--checkpoint-dir", default=checkpoint_dir(), help="spot checkpoints; '' for none")
    # SageMaker adds --model_dir s3://...; the model goes to SM_MODEL_DIR instead.
    parser.add_argument("--model_dir", dest="sagemaker_s3_model_dir", help=argparse.SUPPRESS)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"train.py: ignoring unknown arguments {unknown}", flush=True)
    if args.epochs < 1 or args.batch_size < 1 or args.learning_rate <= 0:
        raise InputError("--epochs and --batch-size must be >= 1 and --learning-rate > 0")
    try:
        args.cache = None if args.cache == "auto" else str_to_bool(args.cache)
    except argparse.ArgumentTypeError as error:
        raise InputError(f"--cache: {error}") from error
    return args


def train(args: argparse.Namespace, extra_callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.Model:
    """Train and export; returns the trained model (tests and the benchmark look at it)."""
    devices = setup_devices(os.environ, mixed_precision=args.mixed_precision, xla=args.xla)
    keras.utils.set_random_seed(args.seed)

    # Data: TFRecord shards and metadata.json, as preprocess.py writes them.
    data = TrainingData.from_channels(args.train, args.validation, cache=args.cache)
    shape = data.metadata
    print(f"train.py: {devices.describe()}; {data.describe()}", flush=True)

    # Model
    with devices.strategy.scope():
        model = build_model(shape.height, shape.width, shape.channels, shape.num_classes)
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=devices.xla,
        )

    # Train: after a spot interruption, BackupAndRestore resumes from the last finished epoch.
    callbacks: list[keras.callbacks.Callback] = []
    if args.checkpoint_dir:
        backup_dir = Path(args.checkpoint_dir) / f"worker-{devices.plan.worker_index}"
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir=str(backup_dir)))
    callbacks += [MetricLineLogger(enabled=devices.plan.is_chief), *extra_callbacks]
    model.fit(
        data.input(contract.TRAIN_CHANNEL, devices, args.batch_size, seed=args.seed),
        epochs=args.epochs,
        steps_per_epoch=data.steps(contract.TRAIN_CHANNEL, args.batch_size),
        validation_data=data.input(contract.VALIDATION_CHANNEL, devices, args.batch_size),
        validation_steps=data.steps(contract.VALIDATION_CHANNEL, args.batch_size),
        shuffle=False,  # tf.data shuffles
        callbacks=callbacks,
        verbose=2,
    )

    # Export for TF Serving (only the chief's copy is kept).
    export_for_serving(model, args.model_dir, shape.feature_size, is_chief=devices.plan.is_chief)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code: 0 done, 2 bad arguments or data, 1 any other failure (reason in the failure file)."""
    failure = failure_file(contract.FAILURE_FILE)
    try:
        train(parse_args(argv))
    except InputError as error:
        report_failure(failure, f"train.py: {error}")
        return contract.INPUT_ERROR_EXIT_CODE
    except Exception as error:
        report_failure(failure, f"train.py: {type(error).__name__}: {error}\n\n{traceback.format_exc()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
