"""`watch`: an execution's states live, from its history (polled, bounded in time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pipeline_cli.backend import Backend
from pipeline_cli.errors import CliError
from pipeline_cli.history import ExecutionView, Visit, load_execution
from pipeline_cli.render import OUTCOME_ICONS, OUTCOME_STYLES, duration, number, short_json, styled, timestamp

_TERMINAL_JOB_STATUSES = ("Completed", "Failed", "Stopped")


class TrainingJobs:
    """DescribeTrainingJob per job, asked again only while the job is still running."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.described: dict[str, dict[str, Any]] = {}

    def status(self, name: str) -> str:
        job = self.described.get(name)
        if job is None or job.get("TrainingJobStatus") not in _TERMINAL_JOB_STATUSES:
            job = self._describe(name)
        if job is None:
            return ""
        metrics = " ".join(
            f"{m['MetricName']}={number(m['Value'])}" for m in job.get("FinalMetricDataList", [])
        )
        status = f"{job.get('TrainingJobStatus', '?')}/{job.get('SecondaryStatus', '?')}"
        return f"{status} {metrics}".strip()

    def _describe(self, name: str) -> dict[str, Any] | None:
        if not self.backend.sagemaker_available:
            return None
        try:
            job = dict(self.backend.client("sagemaker").describe_training_job(TrainingJobName=name))
        except (ClientError, CliError):  # gone, not yet created, or not allowed: the table goes on
            return None
        self.described[name] = job
        return job


def cache_note(visit: Visit) -> str | None:
    """What a step-cache lookup found: the job whose result the run reuses, or why it missed."""
    found = visit.output
    if not isinstance(found, dict) or not {"hit", "step", "enabled"} <= found.keys():
        return None
    if found["hit"]:
        source = (found.get("result") or {}).get("source_job", "?")
        return f"reused: {found['step']} of {source}"
    return f"not cached: {found.get('miss_reason') or 'miss'}"


def _details(visit: Visit, jobs: TrainingJobs) -> str:
    parts = []
    note = cache_note(visit)
    if note is not None:
        parts.append(escape(note))
    job = visit.job()
    if job is not None:
        kind, name = job
        status = jobs.status(name) if kind == "training" else ""
        parts.append(f"{kind} job {escape(name)} {escape(status)}".strip())
    if isinstance(visit.output, dict) and visit.service == "states" and visit.output.get("ExecutionArn"):
        parts.append(f"child execution {escape(str(visit.output['ExecutionArn']))}")
    if visit.retries:
        parts.append(f"{visit.retries} retr{'y' if visit.retries == 1 else 'ies'}")
    if visit.error:
        parts.append(f"[red]{escape(visit.error)}[/]: {escape(short_json(visit.cause or '', 160))}")
    return "; ".join(parts)


def render(view: ExecutionView, jobs: TrainingJobs, now: datetime | None = None) -> RenderableType:
    # A state the history never saw exit (Succeed, Fail) ended with the execution, not now.
    now = view.stopped or now or datetime.now(UTC)
    table = Table(title=f"{view.arn.rsplit(':', 1)[-1]}  {styled(view.status)}", title_justify="left")
    for column in ("#", "state", "type", "outcome", "entered", "elapsed", "details"):
        table.add_column(column, overflow="fold")
    for index, visit in enumerate(view.visits, start=1):
        outcome = view.outcome(visit)
        style = OUTCOME_STYLES[outcome]
        table.add_row(
            str(index),
            Text(visit.name, style="bold" if outcome == "running" else ""),
            visit.state_type,
            f"[{style}]{OUTCOME_ICONS[outcome]} {outcome}[/]",
            timestamp(visit.entered),
            duration(visit.elapsed(now)),
            _details(visit, jobs),
            style="on grey15" if outcome == "running" else None,
        )
    elapsed = (now - view.started).total_seconds()
    return Group(table, Text(f"elapsed {duration(elapsed)}", style="dim"))


def summary(view: ExecutionView) -> RenderableType:
    if view.running:
        return Text.from_markup(f"{styled(view.status)}: still running")
    if view.failed:
        lines = [f"{styled(view.status)}  error: [bold]{escape(view.error or '-')}[/]"]
        if view.cause:
            lines.append(f"cause: {escape(view.cause)}")
        return Text.from_markup("\n".join(lines))
    return Text.from_markup(f"{styled(view.status)}  output: {escape(short_json(view.output or '', 600))}")


def watch(
    backend: Backend,
    arn: str,
    console: Console,
    *,
    interval: float | None = None,
    timeout: float = 86400.0,
) -> ExecutionView:
    """Poll until the execution ends or `timeout` seconds pass; live table on a terminal."""
    sfn = backend.client("stepfunctions")
    jobs = TrainingJobs(backend)
    pause = backend.poll_seconds if interval is None else interval
    deadline = time.monotonic() + timeout
    view = load_execution(sfn, arn)
    # Live redraws in place on a terminal; elsewhere (CI logs, pipes) it prints the final table once.
    with Live(render(view, jobs), console=console, auto_refresh=False) as live:
        while view.running and time.monotonic() < deadline:
            time.sleep(pause)
            view = load_execution(sfn, arn)
            live.update(render(view, jobs), refresh=True)
    if not console.is_terminal:  # Live ends its last line itself only on a terminal
        console.line()
    console.print(summary(view))
    if view.running:
        raise CliError(f"{arn} is still running after {duration(timeout)}: watch it again later.")
    return view
