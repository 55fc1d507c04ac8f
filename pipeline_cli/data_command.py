"""`mlpipeline data upload PATH`: the command around data_upload.py (check, upload, say what to run next)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from pipeline_cli.backend import DEFAULT_STACK, Target, make_backend
from pipeline_cli.data_upload import (
    DataKind,
    check_prepared,
    check_raw,
    convert_labelled,
    destination,
    existing_objects,
    next_command,
    refused,
    upload,
)
from pipeline_cli.errors import cli_errors
from pipeline_cli.render import console

data_app = typer.Typer(help="Data in the stack's data bucket: upload local files, checked first.")

_SKIPPED_WHY = {
    DataKind.raw: "preprocess.py reads only IDX, .npz and class folders of PNGs",
    DataKind.labelled: "preprocess.py reads only IDX, .npz and class folders of PNGs",
    DataKind.prepared: "not in a channel folder",
}


@data_app.command(
    "upload",
    epilog="Examples: [bold]mlpipeline --local data upload digits.npz[/]\n\n"
    "[bold]mlpipeline data upload ./mnist --name mnist[/]\n\n"
    "[bold]mlpipeline data upload ./prepared --kind prepared --name digits-v2[/]\n\n"
    "[bold]mlpipeline data upload ./new-labels --kind labelled --name 2026-11[/]",
)
@cli_errors
def upload_command(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="A file or a folder.", exists=True, readable=True, show_default=False),
    ],
    kind: Annotated[
        DataKind,
        typer.Option(
            "--kind",
            help="raw: images to preprocess (IDX, .npz, class folders of PNGs); prepared: preprocess.py's "
            "output folders; labelled: fresh labelled images for the evaluation workflow.",
        ),
    ] = DataKind.raw,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Upload under <kind>/NAME/ (default: the prefix the stack's runs default to)."
        ),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Use the local session instead of AWS.")] = False,
    stack: Annotated[
        str | None, typer.Option("--stack", help=f"CloudFormation stack (default: {DEFAULT_STACK})")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="AWS region (default: your profile's)")
    ] = None,
) -> None:
    """Check local data with the training code's own readers, upload it to the data bucket, and print
    the `start` line that uses it. Nothing is uploaded if any file is unreadable."""
    base = ctx.obj if isinstance(ctx.obj, Target) else Target()
    backend = make_backend(base.merged(local=local, stack=stack, region=region))
    uri = destination(backend, kind, name)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="mlpipeline-labelled-") as workdir:
        if kind is DataKind.labelled:
            checked = convert_labelled(path, Path(workdir))
        else:
            checked = check_prepared(path) if kind is DataKind.prepared else check_raw(path)
        for skipped in checked.skipped:
            err.print(f"skipping {escape(str(skipped))}: {_SKIPPED_WHY[kind]}")
        if not checked.files:
            raise refused(f"{path}: no file to upload")
        already = existing_objects(backend, uri)
        note = f" (next to {already} object{'s' if already != 1 else ''} already there)" if already else ""
        err.print(f"{escape(str(path))}: {checked.summary} → {escape(uri)}{note}")
        upload(backend, uri, checked.files, err)
    out = console()
    out.print(f"uploaded {len(checked.files)} file(s) to {uri}", soft_wrap=True, highlight=False)
    out.print("next:", highlight=False)
    out.print(next_command(backend, kind, uri), soft_wrap=True, highlight=False, markup=False)
