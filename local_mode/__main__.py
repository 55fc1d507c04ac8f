"""`python -m local_mode deploy | demo | serve`: the app in a local account, its workflows run here."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
WORKDIR = Path("local-run")


def _quiet_environment() -> None:
    # The interpreter logs every forwarded SageMaker call and every caught error; the demo shows its own.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("KERAS_HOME", str(Path(".keras").resolve()))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@app.command()
def demo(workdir: Annotated[Path, typer.Option(help="logs, models and summary.json")] = WORKDIR) -> None:
    """Run the whole story (train, deploy, decay, retrain) and exit 0 only if it all happened.

    Example: python -m local_mode demo
    """
    _quiet_environment()
    from local_mode.demo.run import run_demo

    console = Console()
    summary = run_demo(workdir, console)
    console.print_json(data={"phases_seconds": summary.phases, "checks": summary.checks})
    console.print(f"summary written to {workdir / 'summary.json'}")
    raise typer.Exit(0 if summary.ok else 1)


@app.command()
def deploy(workdir: Annotated[Path, typer.Option(help="cdk.out and the CDK CLI's log")] = WORKDIR) -> None:
    """Synthesize the app, `cdk bootstrap` and `cdk deploy` it into a local account, describe the stack.

    The same CLI and assembly as a real deploy (`npx cdk deploy TfModelLifecycle`), pointed at
    moto's server instead of AWS. Example: python -m local_mode deploy
    """
    _quiet_environment()
    from rich.table import Table

    from local_mode.session import open_session

    console = Console()
    with open_session(workdir) as session:
        cloud = session.cloud
        [stack] = cloud.client("cloudformation").describe_stacks(StackName=cloud.stack_name)["Stacks"]
        console.print(
            f"[bold]{stack['StackName']}[/] {stack['StackStatus']} "
            f"(synth {session.synth_seconds:.1f} s, bootstrap and deploy {session.deploy_seconds:.1f} s; "
            f"CLI log: {workdir / 'cdk-deploy.log'})"
        )
        outputs = Table("output", "value", title="describe-stacks: Outputs")
        for output in stack.get("Outputs") or []:
            outputs.add_row(output["OutputKey"], output["OutputValue"])
        console.print(outputs)
        resources = Table("logical id", "type", "status", title="list-stack-resources")
        for resource in sorted(
            session.cloud.stack.resources.values() if session.cloud.stack else [],
            key=lambda r: (r.resource_type, r.logical_id),
        ):
            resources.add_row(resource.logical_id, resource.resource_type, resource.status)
        console.print(resources)


@app.command()
def serve(
    workdir: Annotated[Path, typer.Option(help="session.json and job data")] = WORKDIR,
    demo_data: Annotated[
        bool,
        typer.Option(
            "--demo-data",
            help="Seed the bundled digits (raw, prepared and labelled) where runs with defaults read them.",
        ),
    ] = False,
) -> None:
    """Keep the local stack running for the CLI (`python -m pipeline_cli --local ...`) until Ctrl-C.

    Examples: python -m local_mode serve; python -m local_mode serve --demo-data
    """
    _quiet_environment()
    from local_mode.session import open_session, write_session_file

    console = Console()
    with open_session(workdir) as session:
        path = write_session_file(session)
        if demo_data:
            _seed(path, console)
        console.print(
            f"local stack running at {session.cloud.endpoint_url}; session in {path}. Ctrl-C stops it."
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping")
        finally:
            path.unlink(missing_ok=True)


@app.command()
def digits(
    directory: Annotated[Path, typer.Argument(help="Folder to write digits-<variant>.npz into.")],
    variant: Annotated[
        str, typer.Option(help="clean, or shifted (rotated, thicker, noisy: data that drifted)")
    ] = "clean",
) -> None:
    """Write the bundled handwritten digits as a raw .npz file, ready for `mlpipeline data upload`.

    Example: python -m local_mode digits my-digits
    """
    from local_mode.demo.data import VARIANTS, write_digits_raw

    chosen = next((known for known in VARIANTS if known == variant), None)
    if chosen is None:
        raise typer.BadParameter(
            f"expected one of {', '.join(VARIANTS)}, got {variant!r}", param_hint="--variant"
        )
    path = write_digits_raw(directory, variant=chosen)
    Console().print(f"wrote {path}", highlight=False)


def _seed(session_file: Path, console: Console) -> None:
    """The bundled digits uploaded through the CLI's own upload path, to the session just written."""
    import tempfile

    from local_mode.demo.data import seed_demo_data
    from pipeline_cli.backend import Target, local_backend

    backend = local_backend(Target(local=True, session_file=session_file))
    with tempfile.TemporaryDirectory(prefix="demo-data-", dir=session_file.parent) as scratch:
        seed_demo_data(backend, Path(scratch), console)


if __name__ == "__main__":
    app()
