"""`mlpipeline data upload`: local files into the data bucket, checked by the training code's own readers.

Nothing is uploaded unless every file passes: raw and labelled data are read by preprocess.py's
readers (raw_readers.read_all, with preprocess.py's own defaults), prepared data by train.py's
(tfrecord_io). Labelled data is converted the way the evaluation workflow needs it, by
preprocess.py itself (--all-to-transform). The line to start the run that uses it is printed last.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

import contract
from lambdas.artifact_layout import LABELLED_PREFIX, PREPARED_PREFIX, RAW_PREFIX
from lambdas.s3_uris import split_s3_uri
from pipeline_cli._paths import REPO_ROOT
from pipeline_cli.backend import Backend
from pipeline_cli.errors import EXIT_USAGE, CliError
from pipeline_cli.inputs import stack_defaults

TRAINING_CODE: Final = REPO_ROOT / "training_code"
# '/'-separated parts of letters, digits, '.', '_', '-'; no part "." or "..".
NAME_PATTERN: Final = re.compile(r"^(?!(.*/)?\.{1,2}(/|$))[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class DataKind(StrEnum):
    raw = "raw"
    prepared = "prepared"
    labelled = "labelled"


@dataclass(frozen=True)
class KindSpec:
    root: str  # the data bucket's prefix for this kind (the SageMaker role reads under it)
    workflow: str  # the workflow whose input takes it
    field: str  # the execution-input field that takes it
    default_from: tuple[str, str]  # (workflow, field) of the stack's defaults naming its usual prefix


KINDS: Final = {
    DataKind.raw: KindSpec(RAW_PREFIX, "training", "raw_data_uri", ("evaluation", "retrain_raw_data_uri")),
    DataKind.prepared: KindSpec(PREPARED_PREFIX, "training", "data_uri", ("training", "data_uri")),
    DataKind.labelled: KindSpec(LABELLED_PREFIX, "evaluation", "data_uri", ("evaluation", "data_uri")),
}


@dataclass(frozen=True)
class Checked:
    """Files that passed, each with its key under the destination prefix, and what they hold."""

    files: list[tuple[Path, str]]
    summary: str
    skipped: list[Path]


def refused(problem: object) -> CliError:
    return CliError(f"Refused, nothing uploaded: {problem}", EXIT_USAGE)


def training_module(name: str) -> ModuleType:
    """A training_code module, imported as the container imports it (its folder is the import root).

    Appended to sys.path, so it never shadows anything already importable.
    """
    if str(TRAINING_CODE) not in sys.path:
        sys.path.append(str(TRAINING_CODE))
    return importlib.import_module(name)


# --- checking -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _as_folder(path: Path) -> Iterator[Path]:
    """The readers take a folder: a single file is read from a folder holding only it."""
    if path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mlpipeline-upload-") as folder:
        (Path(folder) / path.name).symlink_to(path.resolve())
        yield Path(folder)


def _preprocess_args(extra: list[str]) -> Any:
    """preprocess.py's arguments as the Processing job gives them (its defaults), for one instance."""
    preprocess = training_module("preprocess")
    return preprocess.parse_args([*extra, "--instance-index", "0", "--instance-count", "1"])


def check_raw(path: Path) -> Checked:
    """Every raw file read by preprocess.py's readers; files they do not read are left out."""
    if path.is_file() and path.suffix.lower() == ".png":
        raise refused(f"{path}: a PNG's label is the name of its folder: upload the folder of class folders")
    raw_readers = training_module("raw_readers")
    input_error = training_module("sagemaker_env").InputError
    with _as_folder(path) as root:
        args = _preprocess_args(["--input", str(root)])
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its "skipping" lines: the command says its own
                sources = raw_readers.read_all(root, args.class_names, args.image_shape)
        except input_error as error:  # the message names the file (a single file: where it really is)
            raise refused(
                str(error).replace(str(root), str(path.parent if path.is_file() else path))
            ) from None
    if path.is_file():
        files, skipped = [(path, path.name)], []
    else:
        skipped = raw_readers.find_sources(path)[3]
        files = [(file, key) for file, key in _files_under(path) if file not in skipped]
    records = sum(len(source.ids) for source in sources)
    shape = "x".join(str(d) for d in sources[0].images.shape[1:])
    summary = f"{records} records of {shape} from {len(sources)} source{'s' if len(sources) != 1 else ''}"
    return Checked(files, summary, skipped)


def check_prepared(path: Path) -> Checked:
    """Channel folders as preprocess.py writes them, read by train.py's own reader (tfrecord_io)."""
    if not path.is_dir():
        raise refused(f"{path}: prepared data is a folder holding {', '.join(contract.ALL_CHANNELS)}/")
    tfrecord_io = training_module("tfrecord_io")
    train, validation = path / contract.TRAIN_CHANNEL, path / contract.VALIDATION_CHANNEL
    try:
        data = tfrecord_io.TrainingData.from_channels(train, validation, cache=False)
        for channel in (train, validation):
            tfrecord_io.list_shards(channel)
    except training_module("sagemaker_env").InputError as error:
        raise refused(error) from None
    transform = path / contract.TRANSFORM_CHANNEL
    if not any(transform.glob(f"*{contract.TRANSFORM_SUFFIX}")):
        raise refused(
            f"{transform}: no *{contract.TRANSFORM_SUFFIX} files; the training workflow evaluates the "
            "model on them (preprocess.py writes them)"
        )
    channels = {path / channel for channel in contract.ALL_CHANNELS}
    files = _files_under(path)
    kept = [(file, key) for file, key in files if file.parent in channels]
    skipped = [file for file, _ in files if file.parent not in channels]
    return Checked(kept, data.describe().removesuffix(", cache=False"), skipped)


def convert_labelled(path: Path, workdir: Path) -> Checked:
    """Raw labelled data, checked as raw, written as batch-transform JSON Lines by preprocess.py."""
    checked = check_raw(path)
    preprocess = training_module("preprocess")
    with _as_folder(path) as root:
        args = _preprocess_args(["--input", str(root), "--output-dir", str(workdir), "--all-to-transform"])
        preprocess.prepare(args)
    transform = workdir / contract.TRANSFORM_CHANNEL
    files = [(file, f"{contract.TRANSFORM_CHANNEL}/{file.name}") for file in sorted(transform.iterdir())]
    return Checked(files, checked.summary, checked.skipped)


def _files_under(folder: Path) -> list[tuple[Path, str]]:
    return [
        (file, file.relative_to(folder).as_posix()) for file in sorted(folder.rglob("*")) if file.is_file()
    ]


# --- where it goes --------------------------------------------------------------------------------


def destination(backend: Backend, kind: DataKind, name: str | None) -> str:
    """`s3://<data bucket>/<kind's root><name>/`; without a name, the prefix the stack defaults to."""
    bucket = backend.output("DataBucketName")
    spec = KINDS[kind]
    if name is not None:
        cleaned = name.strip("/")
        if not NAME_PATTERN.match(cleaned):
            raise CliError(
                f"--name {name!r}: expected letters, digits, '.', '_' or '-', in '/'-separated parts "
                "(none of them '.' or '..')",
                EXIT_USAGE,
            )
        return f"s3://{bucket}/{spec.root}{cleaned}/"
    workflow, field = spec.default_from
    default = (stack_defaults(backend, workflow) or {}).get(field)
    if not isinstance(default, str) or not default.startswith(f"s3://{bucket}/{spec.root}"):
        raise CliError(
            f"The stack's defaults name no {kind} data prefix under s3://{bucket}/{spec.root}: "
            "pass --name NAME.",
            EXIT_USAGE,
        )
    return default if default.endswith("/") else default + "/"


def next_command(backend: Backend, kind: DataKind, uri: str) -> str:
    """The `mlpipeline start` line that runs on the uploaded data."""
    spec = KINDS[kind]
    workflow = "" if spec.workflow == "training" else f"-w {spec.workflow} "
    return f"mlpipeline {'--local ' if backend.local else ''}start {workflow}--set {spec.field}={uri}"


# --- uploading ------------------------------------------------------------------------------------


def existing_objects(backend: Backend, uri: str) -> int:
    """How many objects the prefix already holds (up to one page): they are read together with the new."""
    bucket, prefix = split_s3_uri(uri)
    return int(backend.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0))


def upload(backend: Backend, uri: str, files: list[tuple[Path, str]], err: Console) -> None:
    """Every file to `uri` + its key, with one progress bar over all their bytes."""
    bucket, prefix = split_s3_uri(uri)
    s3 = backend.client("s3")
    total = sum(file.stat().st_size for file, _ in files)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(f"uploading {len(files)} file{'s' if len(files) != 1 else ''}", total=total)
        for file, key in files:
            s3.upload_file(
                str(file), bucket, prefix + key, Callback=lambda sent: progress.advance(task, sent)
            )
