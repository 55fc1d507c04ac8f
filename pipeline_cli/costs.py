"""`costs`: what an execution's SageMaker work billed, from the jobs' own Describe* responses.

Training bills `BillableTimeInSeconds` times instances (spot jobs bill less than they ran);
processing and transform bill start to end times instances; a tuning job is the sum of its training
jobs; an endpoint bills for as long as it serves, so its line grows until it is replaced.
Prices come from the bundled snapshot (`instance_prices.json`). A serverless endpoint bills per
request (duration times memory), not while idle: `endpoint_estimate` prices a month of it against
the instance endpoint for a stated traffic level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from pipeline_cli._paths import REPO_ROOT
from pipeline_cli.backend import Backend
from pipeline_cli.history import ENDPOINT_DEPLOYS, Visit, load_execution
from stacks.settings import CONTEXT_KEY, EndpointSettings, load_settings

PRICES_FILE: Final = Path(__file__).with_name("instance_prices.json")
MAX_CHILD_DEPTH: Final = 3  # evaluation → training (retrain) is one level; bounded against cycles


@cache
def price_table() -> dict[str, Any]:
    return dict(json.loads(PRICES_FILE.read_text()))


@dataclass(frozen=True)
class CostLine:
    """One job (or endpoint deployment): instance time billed, and what on-demand would have cost."""

    kind: str
    name: str
    instance_type: str | None
    instance_count: int
    billed_seconds: float  # per instance
    run_seconds: float  # per instance; more than billed for managed spot training
    note: str = ""
    serverless: bool = False  # a serverless endpoint: nothing billed per hour, only per request
    arn: str = ""  # the job's (an endpoint's: its config's) ARN, whose tags `costs --by` groups on

    @property
    def price_per_hour(self) -> float | None:
        if self.serverless:
            return 0.0
        prices: dict[str, float] = price_table()["per_hour"]
        return prices.get(self.instance_type or "")

    @property
    def instance_hours(self) -> float:
        return self.billed_seconds * self.instance_count / 3600

    def cost(self, seconds: float) -> float | None:
        price = self.price_per_hour
        return None if price is None else seconds * self.instance_count / 3600 * price

    @property
    def billed(self) -> float | None:
        return self.cost(self.billed_seconds)

    @property
    def on_demand(self) -> float | None:
        return self.cost(self.run_seconds)


def _seconds(start: datetime | None, end: datetime | None, now: datetime) -> float:
    return ((end or now) - start).total_seconds() if start else 0.0


def training_line(job: dict[str, Any], now: datetime, kind: str = "training") -> CostLine:
    resources = job.get("ResourceConfig", {})
    groups = resources.get("InstanceGroups") or []
    count = int(resources.get("InstanceCount") or sum(int(g["InstanceCount"]) for g in groups) or 1)
    running = job.get("TrainingJobStatus") == "InProgress"
    ran = float(job.get("TrainingTimeInSeconds") or _seconds(job.get("TrainingStartTime"), None, now))
    billed = float(job.get("BillableTimeInSeconds") or ran)
    notes = []
    if job.get("EnableManagedSpotTraining"):
        notes.append(f"spot: {1 - billed / ran:.0%} saved" if ran else "spot")
    if running:
        notes.append("running")
    return CostLine(
        kind=kind,
        name=str(job["TrainingJobName"]),
        instance_type=resources.get("InstanceType") or (groups[0]["InstanceType"] if groups else None),
        instance_count=count,
        billed_seconds=billed,
        run_seconds=ran,
        note=", ".join(notes),
        arn=str(job.get("TrainingJobArn", "")),
    )


def processing_line(job: dict[str, Any], now: datetime) -> CostLine:
    cluster = job.get("ProcessingResources", {}).get("ClusterConfig", {})
    return _wall_clock_line("processing", "Processing", job, cluster, now)


def transform_line(job: dict[str, Any], now: datetime) -> CostLine:
    return _wall_clock_line("transform", "Transform", job, job.get("TransformResources", {}), now)


def _wall_clock_line(
    kind: str, prefix: str, job: dict[str, Any], resources: dict[str, Any], now: datetime
) -> CostLine:
    """A job billed from its start to its end (`<prefix>StartTime`, `<prefix>EndTime`) per instance."""
    end = job.get(f"{prefix}EndTime")
    seconds = _seconds(job.get(f"{prefix}StartTime"), end, now)
    return CostLine(
        kind=kind,
        name=str(job[f"{prefix}JobName"]),
        instance_type=resources.get("InstanceType"),
        instance_count=int(resources.get("InstanceCount", 1)),
        billed_seconds=seconds,
        run_seconds=seconds,
        note="" if end else "running",
        arn=str(job.get(f"{prefix}JobArn", "")),
    )


def tuning_lines(sagemaker: BaseClient, name: str, now: datetime) -> Iterator[CostLine]:
    paginator = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
    for page in paginator.paginate(HyperParameterTuningJobName=name):
        for summary in page["TrainingJobSummaries"]:
            job = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            yield training_line(job, now, kind=f"tuning {name}")


def endpoint_line(sagemaker: BaseClient, visit: Visit, now: datetime) -> CostLine:
    """The fleet this deploy started, billed from the deploy until now while it still serves."""
    endpoint_name = str(visit.parameters.get("EndpointName"))
    config_name = str(visit.parameters.get("EndpointConfigName"))
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variants, config_arn = config["ProductionVariants"], str(config.get("EndpointConfigArn", ""))
    serving = endpoint.get("EndpointConfigName") == config_name
    serverless = variants[0].get("ServerlessConfig")
    if serverless:
        return CostLine(
            kind="endpoint",
            name=f"{endpoint_name} ({config_name})",
            instance_type=f"serverless {serverless['MemorySizeInMB']} MB",
            instance_count=0,
            billed_seconds=0.0,
            run_seconds=0.0,
            note="serverless: billed per request, not while idle (costs --endpoint-estimate)",
            serverless=True,
            arn=config_arn,
        )
    count = sum(int(v.get("CurrentInstanceCount", 0)) for v in endpoint.get("ProductionVariants", []))
    seconds = _seconds(visit.entered, None, now) if serving else 0.0
    return CostLine(
        kind="endpoint",
        name=f"{endpoint_name} ({config_name})",
        instance_type=variants[0].get("InstanceType"),
        instance_count=count or int(variants[0].get("InitialInstanceCount", 1)),
        billed_seconds=seconds,
        run_seconds=seconds,
        note="serving: grows until replaced" if serving else "not serving this config now: not counted",
        arn=config_arn,
    )


def job_lines(sagemaker: BaseClient, visit: Visit, now: datetime) -> list[CostLine]:
    job = visit.job()
    if job is None:
        return [endpoint_line(sagemaker, visit, now)] if visit.operation in ENDPOINT_DEPLOYS else []
    kind, name = job
    if kind == "training":
        return [training_line(sagemaker.describe_training_job(TrainingJobName=name), now)]
    if kind == "processing":
        return [processing_line(sagemaker.describe_processing_job(ProcessingJobName=name), now)]
    if kind == "transform":
        return [transform_line(sagemaker.describe_transform_job(TransformJobName=name), now)]
    return list(tuning_lines(sagemaker, name, now))


def _child_execution(visit: Visit) -> str | None:
    output = visit.output
    if visit.service == "states" and isinstance(output, dict):
        arn = output.get("ExecutionArn")
        return str(arn) if arn else None
    return None


def execution_costs(
    backend: Backend, arn: str, *, now: datetime | None = None, depth: int = 0
) -> list[CostLine]:
    """Every job the execution (and the executions it started) ran, once each."""
    now = now or datetime.now(UTC)
    view = load_execution(backend.client("stepfunctions"), arn)
    sagemaker = backend.client("sagemaker")
    lines: list[CostLine] = []
    seen: set[tuple[str, ...]] = set()
    for visit in view.visits:
        key = (visit.operation, json.dumps(visit.parameters, sort_keys=True))
        if key in seen or not visit.resource:
            continue
        seen.add(key)
        try:
            lines += job_lines(sagemaker, visit, now)
        except ClientError as error:  # a job that never started (failed request) has nothing to bill
            if "Could not find" not in str(error) and "does not exist" not in str(error):
                raise
        child = _child_execution(visit)
        if child and depth < MAX_CHILD_DEPTH:
            lines += execution_costs(backend, child, now=now, depth=depth + 1)
    return lines


# --- a month of the endpoint: instances against serverless ------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """A month of requests: how many, how long each runs, and the payload in and out of each."""

    requests_per_month: int
    avg_duration_ms: float
    payload_kb: float


@dataclass(frozen=True)
class EndpointEstimate:
    """One month of the configured endpoint, priced on instances and on serverless, at `traffic`."""

    instance_type: str
    instance_count: int
    memory_size_mb: int
    traffic: Traffic

    @property
    def instances_monthly(self) -> float | None:
        """Instances bill every hour they exist, whatever the traffic (autoscaling's minimum)."""
        table = price_table()
        price = table["per_hour"].get(self.instance_type)
        return None if price is None else price * self.instance_count * table["hours_per_month"]

    @property
    def serverless_compute_monthly(self) -> float:
        gb_seconds = (
            self.traffic.requests_per_month * self.traffic.avg_duration_ms / 1000 * self.memory_size_mb / 1024
        )
        return float(gb_seconds * price_table()["serverless"]["per_gb_second"])

    @property
    def serverless_data_monthly(self) -> float:
        gigabytes = self.traffic.requests_per_month * self.traffic.payload_kb / (1024 * 1024)
        return float(gigabytes * price_table()["serverless"]["data_processing_per_gb"])

    @property
    def serverless_monthly(self) -> float:
        return self.serverless_compute_monthly + self.serverless_data_monthly


def endpoint_estimate(endpoint: EndpointSettings, traffic: Traffic) -> EndpointEstimate:
    """The endpoint cdk.json configures, priced both ways (its serverless memory even when it is off)."""
    floor = endpoint.autoscaling.min if endpoint.autoscaling.enabled else endpoint.initial_instance_count
    return EndpointEstimate(
        instance_type=endpoint.instance_type,
        instance_count=floor,
        memory_size_mb=endpoint.serverless.memory_size_mb,
        traffic=traffic,
    )


def configured_endpoint(cdk_json: Path = REPO_ROOT / "cdk.json") -> EndpointSettings:
    """The endpoint section of the checkout's cdk.json, validated as `cdk synth` validates it."""
    return load_settings(json.loads(cdk_json.read_text())["context"][CONTEXT_KEY]).endpoint


def estimate_rows(estimate: EndpointEstimate) -> list[tuple[str, str, str]]:
    """(endpoint, what it bills for, $ per month) for the instance endpoint and for serverless."""
    traffic = estimate.traffic
    monthly = estimate.instances_monthly
    hours = price_table()["hours_per_month"]
    return [
        (
            f"{estimate.instance_count} x {estimate.instance_type}",
            f"{hours} hours a month per instance, whatever the traffic",
            "?" if monthly is None else f"{monthly:.2f}",
        ),
        (
            f"serverless {estimate.memory_size_mb} MB",
            f"{traffic.requests_per_month:,} requests x {traffic.avg_duration_ms:g} ms"
            f" + {traffic.payload_kb:g} KB in and out each",
            f"{estimate.serverless_monthly:.2f}",
        ),
    ]
