"""`python -m pipeline_cli`: start, watch, draw, inspect, roll back and cost the workflows.

Every command runs against the deployed stack (your AWS credentials and region, outputs from
CloudFormation) or, with --local, against the stack `python -m local_mode serve` keeps running.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.markup import escape
from rich.table import Table

from lambdas.approval_request import Decision
from lambdas.model_registry import ModelStatus
from pipeline_cli import approval as approvals
from pipeline_cli import cost_groups
from pipeline_cli import costs as cost_report
from pipeline_cli import rollback as rollbacks
from pipeline_cli.backend import DEFAULT_STACK, Backend, Target, make_backend
from pipeline_cli.data_command import data_app
from pipeline_cli.definitions import definition_by_workflow, synthesized_template
from pipeline_cli.errors import EXIT_FAILURE, EXIT_USAGE, CliError, cli_errors, error_code
from pipeline_cli.graph_svg import draw
from pipeline_cli.history import load_execution
from pipeline_cli.inputs import build_input, check_execution_name, execution_name, validate_input
from pipeline_cli.model_report import DEFAULT_REPORT_DIR, save_report
from pipeline_cli.models_view import model_details, models_table
from pipeline_cli.registry import get_model, list_models
from pipeline_cli.render import console, duration
from pipeline_cli.resume import resume_name, resumed_input
from pipeline_cli.watch import watch as watch_execution


class Workflow(StrEnum):
    training = "training"
    evaluation = "evaluation"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    svg = "svg"
    png = "png"


app = typer.Typer(
    help="Start, watch, draw, inspect, roll back and cost the model life cycle's workflows. "
    "Against the deployed stack (your AWS credentials and region), or with --local against the "
    "stack `python -m local_mode serve` keeps running.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
models_app = typer.Typer(help="The model registry: every model, or one model's record.")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")

# Target options exist globally (`--local models`) and per command (`models --local`): both read naturally.
LocalOption = Annotated[bool, typer.Option("--local", help="Use the local session instead of AWS.")]
StackOption = Annotated[
    str | None, typer.Option("--stack", help=f"CloudFormation stack (default: {DEFAULT_STACK})")
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: your profile's)")]
WorkflowOption = Annotated[Workflow, typer.Option("--workflow", "-w", help="Which workflow.")]
ArnArgument = Annotated[str, typer.Argument(help="Execution ARN (start prints it).", show_default=False)]


def _target(ctx: typer.Context, local: bool, stack: str | None, region: str | None) -> Target:
    """The global options (or a group's) with this command's own on top."""
    base = ctx.obj if isinstance(ctx.obj, Target) else Target()
    return base.merged(local=local, stack=stack, region=region)


def _backend(ctx: typer.Context, local: bool, stack: str | None, region: str | None) -> Backend:
    return make_backend(_target(ctx, local, stack, region))


@app.callback()
def main_options(
    ctx: typer.Context,
    local: LocalOption = False,
    stack: Annotated[
        str, typer.Option("--stack", envvar="MLPIPELINE_STACK", help="CloudFormation stack.")
    ] = DEFAULT_STACK,
    region: RegionOption = None,
    session: Annotated[
        Path | None,
        typer.Option(
            "--session",
            envvar="MLPIPELINE_SESSION",
            help="The local session file (default: local-run/session.json).",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = Target(local=local, stack=stack, region=region, session_file=session)


# --- start / watch ---------------------------------------------------------------------------------


@app.command(
    epilog="Examples: [bold]python -m pipeline_cli start --set hyperparameters.epochs=3 --wait[/]\n\n"
    "[bold]python -m pipeline_cli start -w evaluation --input eval.json[/]\n\n"
    "[bold]python -m pipeline_cli --local start --dry-run[/]"
)
@cli_errors
def start(
    ctx: typer.Context,
    workflow: WorkflowOption = Workflow.training,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="JSON file with the execution input ('-': stdin).")
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="KEY=VALUE over the input; dotted keys, JSON values (repeatable)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the execution until it ends.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Execution name (default: generated).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print the completed input; start nothing.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="With --wait: give up watching after this many seconds.")
    ] = 86400,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Start a workflow, after checking its input against the workflow's own schema and defaults."""
    backend = _backend(ctx, local, stack, region)
    raw = build_input(input_file, assignments or [])
    run = validate_input(backend, workflow.value, raw)
    out = console()
    if dry_run:
        out.print_json(data=run)
        return
    arn = _start_execution(
        backend, workflow.value, raw, check_execution_name(name or execution_name(workflow))
    )
    out.print(f"started {arn}", soft_wrap=True, highlight=False)
    url = backend.console_url(arn)
    out.print(
        url or f"local session: python -m pipeline_cli --local watch {arn}", soft_wrap=True, highlight=False
    )
    if wait and watch_execution(backend, arn, out, timeout=timeout).failed:
        raise typer.Exit(EXIT_FAILURE)


def _start_execution(backend: Backend, workflow: str, raw: dict[str, Any], name: str) -> str:
    try:
        response = backend.client("stepfunctions").start_execution(
            stateMachineArn=backend.workflow_arn(workflow), name=name, input=json.dumps(raw)
        )
    except ClientError as error:
        if error_code(error) == "ExecutionAlreadyExists":
            raise CliError(
                f"An execution named {name} already exists: choose another --name.", EXIT_USAGE
            ) from None
        raise
    return str(response["executionArn"])


@app.command(
    epilog="Example: [bold]python -m pipeline_cli resume arn:aws:states:us-east-1:123456789012:execution:… "
    "--wait[/]"
)
@cli_errors
def resume(
    ctx: typer.Context,
    execution_arn: ArnArgument,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the new execution until it ends.")] = False,
    timeout: Annotated[
        float, typer.Option(help="With --wait: give up watching after this many seconds.")
    ] = 86400,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Start a failed training execution again with its input: the SageMaker jobs it completed are
    reused from the step cache, and the run goes on from the first step that had not succeeded."""
    backend = _backend(ctx, local, stack, region)
    raw = resumed_input(backend, execution_arn)
    arn = _start_execution(backend, Workflow.training.value, raw, resume_name(execution_arn))
    out = console()
    out.print(f"resumed {execution_arn}\nas {arn}", soft_wrap=True, highlight=False)
    if wait and watch_execution(backend, arn, out, timeout=timeout).failed:
        raise typer.Exit(EXIT_FAILURE)


@app.command(
    epilog="Example: [bold]python -m pipeline_cli watch arn:aws:states:us-east-1:123456789012:execution:…[/]"
)
@cli_errors
def watch(
    ctx: typer.Context,
    execution_arn: ArnArgument,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between polls (default: 5; local 0.25).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 86400,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Follow an execution: states with elapsed times, training jobs' status and metrics, the result.

    Exits non-zero when the execution failed, timed out or was aborted.
    """
    backend = _backend(ctx, local, stack, region)
    if watch_execution(backend, execution_arn, console(), interval=interval, timeout=timeout).failed:
        raise typer.Exit(EXIT_FAILURE)


# --- graph -----------------------------------------------------------------------------------------


@app.command(
    epilog="Examples: [bold]python -m pipeline_cli graph -w evaluation[/]\n\n"
    "[bold]python -m pipeline_cli graph --execution ARN --format svg --output run.svg[/]"
)
@cli_errors
def graph(
    ctx: typer.Context,
    workflow: Annotated[
        Workflow | None, typer.Option("--workflow", "-w", help="Which workflow (default: training).")
    ] = None,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.mermaid,
    execution: Annotated[
        str | None, typer.Option("--execution", "-e", help="Colour the states by this execution's outcome.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    catches: Annotated[bool, typer.Option(help="Draw every Catch edge (dashed).")] = False,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Draw a workflow from its synthesized definition: Mermaid text, or an SVG or PNG picture.

    With --execution, states are coloured like the console: succeeded green, failed red,
    caught or in progress amber, not run grey.
    """
    if fmt is GraphFormat.png and output is None:
        raise CliError("--format png writes a picture: name the file with --output FILE.png", EXIT_USAGE)
    outcomes = None
    target = _target(ctx, local, stack, region)
    drawn = (workflow or Workflow.training).value
    if execution is not None:
        backend = make_backend(target)
        view = load_execution(backend.client("stepfunctions"), execution)
        ran = backend.workflow_of(view.state_machine_arn)
        if workflow is not None and workflow != ran:
            raise CliError(f"{execution} is an execution of the {ran} workflow, not {workflow}.", EXIT_USAGE)
        drawn, definition, outcomes = ran, backend.definition(ran), view.outcomes()
    else:
        # No AWS needed to draw the code's own workflow; the local session has its own template.
        template = make_backend(target).template() if target.local else synthesized_template(target.stack)
        definition = definition_by_workflow(template, drawn)
    title = f"{drawn} workflow" + (f": {execution}" if execution else "")
    diagram = draw(definition, fmt.value, catches=catches, outcomes=outcomes, title=title)
    if output is None:
        typer.echo(diagram, nl=False)  # plain: rich would read Mermaid's brackets as markup
    else:
        if isinstance(diagram, bytes):
            output.write_bytes(diagram)
        else:
            output.write_text(diagram)
        typer.echo(f"wrote {output}", err=True)


# --- models ----------------------------------------------------------------------------------------


@models_app.callback(
    invoke_without_command=True,
    epilog="Examples: [bold]python -m pipeline_cli models[/]\n\n"
    "[bold]python -m pipeline_cli models --status DEPLOYED --local[/]\n\n"
    "[bold]python -m pipeline_cli models --status PENDING_APPROVAL[/]\n\n"
    "[bold]python -m pipeline_cli models show tf2-digits-261122175012-a1b2c3-a1[/]",
)
@cli_errors
def models(
    ctx: typer.Context,
    status: Annotated[
        ModelStatus | None, typer.Option("--status", help="Only models in this status.")
    ] = None,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """List the registry: status, gate metric, when, which training job, what is deployed."""
    if ctx.invoked_subcommand is not None:  # `models --local show X`: show reads the options from here
        ctx.obj = _target(ctx, local, stack, region)
        return
    console().print(models_table(list_models(_backend(ctx, local, stack, region), status), status))


@models_app.command(
    epilog="Example: [bold]python -m pipeline_cli models show tf2-digits-261122175012-a1b2c3-a1[/]"
)
@cli_errors
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model's name (see `models`).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="The raw registry item as JSON.")] = False,
    report_dir: Annotated[
        Path, typer.Option(help="Where the evaluation report and its confusion-matrix PNG are written.")
    ] = DEFAULT_REPORT_DIR,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """One model's full record: settings, metrics, evaluation history, report location.

    Also writes the evaluation report and its confusion matrix to REPORT_DIR/<model>/.
    """
    backend = _backend(ctx, local, stack, region)
    model = get_model(backend, name)
    if model is None:
        raise CliError(f"No model named {name} in the registry: see `models`.")
    out = console()
    if as_json:
        out.print_json(data=model)
        return
    out.print(model_details(model))
    saved = save_report(backend.client("s3"), model, report_dir)
    if saved is not None:
        out.print(f"wrote {saved[0]} and {saved[1]}", soft_wrap=True, highlight=False)


# --- approve / reject ------------------------------------------------------------------------------

ModelArgument = Annotated[
    str, typer.Argument(help="The model (see `models --status PENDING_APPROVAL`).", show_default=False)
]


@app.command(epilog="Example: [bold]python -m pipeline_cli approve tf2-digits-261122175012-a1b2c3-a1[/]")
@cli_errors
def approve(
    ctx: typer.Context,
    name: ModelArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the registry).")] = "",
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Approve a model waiting at manual approval: its run goes on to deploy it.

    Refused when the model does not wait (already decided, timed out) or is superseded (another
    model was deployed after it was compared with the champion).
    """
    decision = approvals.approve(_backend(ctx, local, stack, region), name, reason)
    _print_decision("[green]approved[/]", name, decision, "its run deploys it now.")


@app.command(
    epilog="Example: [bold]python -m pipeline_cli reject tf2-digits-261122175012-a1b2c3-a1 --reason drift[/]"
)
@cli_errors
def reject(
    ctx: typer.Context,
    name: ModelArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (required; recorded in the registry).")],
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Reject a model waiting at manual approval: it is never deployed and its run ends (no retraining)."""
    decision = approvals.reject(_backend(ctx, local, stack, region), name, reason)
    _print_decision("[red]rejected[/]", name, decision, "its run ends without deploying.")


def _print_decision(verdict: str, name: str, decision: Decision, consequence: str) -> None:
    """`<verdict> <model> as <who decided>: <what the model's run does now>`."""
    console().print(
        f"{verdict} {escape(name)} as {escape(decision.decided_by)}: {consequence}", highlight=False
    )


# --- rollback --------------------------------------------------------------------------------------


@app.command(
    epilog="Examples: [bold]python -m pipeline_cli rollback[/]\n\n"
    "[bold]python -m pipeline_cli rollback --to tf2-digits-261120093001-9f8e7d-a1 --yes[/]"
)
@cli_errors
def rollback(
    ctx: typer.Context,
    to: Annotated[
        str | None, typer.Option("--to", help="Model to deploy (default: the previous champion).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the endpoint to be InService.")] = 3600,
    poll: Annotated[
        float | None, typer.Option(help="Seconds between endpoint checks (default: 5; local 0.25).")
    ] = None,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Deploy the previous (or a named) champion again, the way the training workflow deploys.

    UpdateEndpoint with the model's endpoint config (recreated if it was deleted), a bounded wait
    for InService, then one registry transaction: target DEPLOYED, current RETIRED.
    """
    backend = _backend(ctx, local, stack, region)
    plan = rollbacks.plan_rollback(backend, to)
    out = console()
    current = plan.current_name or "nothing"
    out.print(
        f"Endpoint [bold]{plan.endpoint_name}[/]: [bold]{escape(current)}[/] → "
        f"[bold]{escape(plan.target_name)}[/] "
        f"({plan.target['status']}, gate metric {plan.target.get('gate_metric', '-')})",
        highlight=False,
    )
    if not yes:
        typer.confirm("Deploy it?", abort=True)
    config = rollbacks.rollback(
        backend, plan, timeout=timeout, poll=backend.poll_seconds if poll is None else poll
    )
    out.print(
        f"[green]{escape(plan.target_name)} is DEPLOYED[/] (endpoint config {escape(config)}); "
        f"{escape(current)} is RETIRED.",
        highlight=False,
    )


# --- costs -----------------------------------------------------------------------------------------


@app.command(
    epilog="Example: [bold]python -m pipeline_cli costs arn:aws:states:us-east-1:123456789012:execution:…[/]"
    " · [bold]python -m pipeline_cli costs --endpoint-estimate --requests-per-month 100000[/]"
)
@cli_errors
def costs(
    ctx: typer.Context,
    execution_arn: Annotated[
        str | None, typer.Argument(help="Execution ARN (start prints it).", show_default=False)
    ] = None,
    local: LocalOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
    endpoint_estimate: Annotated[
        bool,
        typer.Option(
            "--endpoint-estimate",
            help="Instead: a month of cdk.json's endpoint on instances against serverless, at this traffic.",
        ),
    ] = False,
    requests_per_month: Annotated[int, typer.Option(min=0, help="With --endpoint-estimate.")] = 100_000,
    avg_duration_ms: Annotated[
        float, typer.Option(min=1, help="With --endpoint-estimate: model time per request.")
    ] = 100.0,
    payload_kb: Annotated[
        float, typer.Option(min=0, help="With --endpoint-estimate: request plus response size.")
    ] = 1.0,
    by: Annotated[
        cost_groups.GroupBy | None,
        typer.Option(
            "--by",
            help="Add up by the model_name or run_id cost allocation tag: of the execution, or of every "
            "execution of both workflows when none is named.",
        ),
    ] = None,
) -> None:
    """What an execution's SageMaker jobs and endpoint billed, at on-demand prices (bundled snapshot)."""
    if endpoint_estimate:
        traffic = cost_report.Traffic(requests_per_month, avg_duration_ms, payload_kb)
        console().print(endpoint_estimate_table(traffic))
        return
    if by is not None:
        backend = _backend(ctx, local, stack, region)
        lines = (
            cost_report.execution_costs(backend, execution_arn)
            if execution_arn
            else cost_groups.all_costs(backend)
        )
        groups = cost_groups.group_costs(backend.client("sagemaker"), lines, by)
        console().print(cost_groups.group_table(groups, by, _prices_caption(backend.region)))
        return
    if execution_arn is None:
        raise CliError("Name an execution ARN, or ask for --endpoint-estimate or --by.", EXIT_USAGE)
    backend = _backend(ctx, local, stack, region)
    lines = cost_report.execution_costs(backend, execution_arn)
    out = console()
    if not lines:
        out.print("This execution ran no SageMaker jobs.")
        return
    out.print(cost_report_table(lines, backend.region))


def endpoint_estimate_table(traffic: cost_report.Traffic) -> Table:
    prices = cost_report.price_table()
    estimate = cost_report.endpoint_estimate(cost_report.configured_endpoint(), traffic)
    caption = f"{prices['region']} on-demand prices, snapshot of {prices['snapshot_date']}"
    table = Table(title="The endpoint for a month", caption=caption)
    for header in ("endpoint", "billed for", "$/month"):
        table.add_column(header, justify="right" if "$" in header else "left", overflow="fold")
    for row in cost_report.estimate_rows(estimate):
        table.add_row(*row)
    return table


def _prices_caption(region: str) -> str:
    prices = cost_report.price_table()
    caption = f"{prices['region']} on-demand prices, snapshot of {prices['snapshot_date']}"
    if region != prices["region"]:
        caption += f" (this stack is in {region}: its prices differ)"
    return caption


def cost_report_table(lines: list[cost_report.CostLine], region: str) -> Table:
    caption = _prices_caption(region)
    table = Table(title="SageMaker costs", caption=caption, show_footer=True)
    billed = sum(line.billed or 0.0 for line in lines)
    on_demand = sum(line.on_demand or 0.0 for line in lines)
    columns = [
        ("kind", ""),
        ("job", "total"),
        ("instance", ""),
        ("count", ""),
        ("billed time", ""),
        ("instance-hours", f"{sum(line.instance_hours for line in lines):.3f}"),
        ("$/hour", ""),
        ("on-demand $", f"{on_demand:.4f}"),
        ("billed $", f"{billed:.4f}"),
        ("note", f"saved ${on_demand - billed:.4f}" if on_demand > billed else ""),
    ]
    for header, footer in columns:
        table.add_column(header, footer=footer, overflow="fold", justify="right" if "$" in header else "left")
    for line in lines:
        price = line.price_per_hour
        table.add_row(
            line.kind,
            escape(line.name),
            line.instance_type or "?",
            str(line.instance_count),
            duration(line.billed_seconds),
            f"{line.instance_hours:.3f}",
            "?" if price is None else f"{price:.3f}",
            "?" if line.on_demand is None else f"{line.on_demand:.4f}",
            "?" if line.billed is None else f"{line.billed:.4f}",
            escape(line.note if price is not None else f"{line.note} no price for this type".strip()),
        )
    return table


def main() -> None:
    app()
