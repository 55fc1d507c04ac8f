"""Cost arithmetic from Describe* responses, and the report's total."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from pipeline_cli._paths import REPO_ROOT
from pipeline_cli.cli import cost_report_table
from pipeline_cli.costs import (
    CostLine,
    EndpointEstimate,
    Traffic,
    configured_endpoint,
    endpoint_line,
    price_table,
    processing_line,
    training_line,
    transform_line,
    tuning_lines,
)
from pipeline_cli.history import Visit
from tests.cli.conftest import Invoke, Stubs

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)


def _training(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobStatus": "Completed",
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
        **fields,
    }


def test_training_bills_billable_seconds_times_instances_and_shows_spot_savings() -> None:
    job = _training(
        "spot", TrainingTimeInSeconds=1000, BillableTimeInSeconds=300, EnableManagedSpotTraining=True
    )

    line = training_line(job, NOW)

    assert (line.instance_type, line.instance_count) == ("ml.g5.xlarge", 2)
    assert line.instance_hours == pytest.approx(600 / 3600)
    assert line.billed == pytest.approx(300 * 2 / 3600 * 1.408)
    assert line.on_demand == pytest.approx(1000 * 2 / 3600 * 1.408)
    assert line.note == "spot: 70% saved"


def test_a_running_training_job_counts_until_now() -> None:
    job = _training("running", TrainingJobStatus="InProgress", TrainingStartTime=NOW - timedelta(minutes=10))

    line = training_line(job, NOW)

    assert line.billed_seconds == line.run_seconds == 600
    assert line.note == "running"


def test_processing_and_transform_bill_start_to_end_times_instances() -> None:
    processing = processing_line(
        {
            "ProcessingJobName": "prep",
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 3}},
            "ProcessingStartTime": T0,
            "ProcessingEndTime": T0 + timedelta(minutes=20),
        },
        NOW,
    )
    transform = transform_line(
        {
            "TransformJobName": "eval",
            "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            "TransformStartTime": T0,
        },
        NOW,
    )

    assert processing.billed == pytest.approx(1200 * 3 / 3600 * 0.23)
    assert (transform.billed_seconds, transform.note) == (7200, "running")


def test_a_tuning_job_is_the_sum_of_its_training_jobs(stubs: Stubs) -> None:
    sagemaker = stubs["sagemaker"]
    summaries: list[dict[str, Any]] = [
        {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
            "CreationTime": T0,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {},
        }
        for name in ("t-001", "t-002")
    ]

    def describe(name: str, seconds: int) -> None:
        sagemaker.add_response(
            "describe_training_job",
            {
                **_training(name, TrainingTimeInSeconds=seconds, BillableTimeInSeconds=seconds),
                "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
                "ModelArtifacts": {"S3ModelArtifacts": "s3://a/m.tar.gz"},
                "SecondaryStatus": "Completed",
                "AlgorithmSpecification": {"TrainingInputMode": "File"},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                "CreationTime": T0,
            },
            {"TrainingJobName": name},
        )

    # Pages are read as the jobs are described: page 1, its job, page 2, its job.
    sagemaker.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": summaries[:1], "NextToken": "page2"},
        {"HyperParameterTuningJobName": "tune"},
    )
    describe("t-001", 120)
    sagemaker.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": summaries[1:]},
        {"HyperParameterTuningJobName": "tune", "NextToken": "page2"},
    )
    describe("t-002", 240)

    lines = list(tuning_lines(stubs.clients["sagemaker"], "tune", NOW))

    assert [(line.kind, line.name) for line in lines] == [("tuning tune", "t-001"), ("tuning tune", "t-002")]
    assert sum(line.billed or 0 for line in lines) == pytest.approx(360 * 2 / 3600 * 1.408)


def test_the_report_totals_what_it_can_price_and_says_what_it_cannot() -> None:
    lines = [
        CostLine("training", "a", "ml.g5.xlarge", 1, billed_seconds=1800, run_seconds=3600),
        CostLine("transform", "b", "ml.m5.xlarge", 2, billed_seconds=900, run_seconds=900),
        CostLine("processing", "c", "ml.x9.huge", 1, billed_seconds=60, run_seconds=60),
    ]
    console = Console(width=220, record=True)

    console.print(cost_report_table(lines, "eu-west-1"))
    text = console.export_text()

    billed = 0.5 * 1.408 + 0.5 * 0.23
    on_demand = 1.0 * 1.408 + 0.5 * 0.23
    assert (
        f"{on_demand:.4f}" in text and f"{billed:.4f}" in text and f"saved ${on_demand - billed:.4f}" in text
    )
    assert "no price for this type" in text
    assert (
        f"snapshot of {price_table()['snapshot_date']} (this stack is in eu-west-1: its prices differ)"
        in text
    )


def test_the_price_table_is_a_dated_snapshot_of_the_types_this_project_uses() -> None:
    table = price_table()
    settings = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["mlops"]
    used = {
        settings["training"]["instance_type"],
        settings["processing"]["instance_type"],
        settings["transform"]["instance_type"],
        settings["endpoint"]["instance_type"],
    }
    assert table["region"] == "us-east-1" and datetime.fromisoformat(table["snapshot_date"])
    assert used <= set(table["per_hour"])
    assert all(0 < price < 100 for price in table["per_hour"].values())


# --- serverless: per request, and a month of it against instances -------------------------------


def _estimate(requests: int, duration_ms: float = 100.0, payload_kb: float = 1.0) -> EndpointEstimate:
    return EndpointEstimate("ml.m5.large", 2, 2048, Traffic(requests, duration_ms, payload_kb))


def test_serverless_bills_duration_times_memory_plus_payload_and_instances_bill_every_hour() -> None:
    table = price_table()
    estimate = _estimate(300_000, duration_ms=250, payload_kb=4)

    gb_seconds = 300_000 * 0.25 * 2
    payload_gb = 300_000 * 4 / 1024 / 1024
    assert estimate.serverless_compute_monthly == pytest.approx(
        gb_seconds * table["serverless"]["per_gb_second"]
    )
    assert estimate.serverless_data_monthly == pytest.approx(
        payload_gb * table["serverless"]["data_processing_per_gb"]
    )
    assert estimate.instances_monthly == pytest.approx(
        table["per_hour"]["ml.m5.large"] * 2 * table["hours_per_month"]
    )
    idle = _estimate(0)
    assert idle.serverless_monthly == 0 and idle.instances_monthly == estimate.instances_monthly
    assert _estimate(200_000).serverless_monthly == pytest.approx(2 * _estimate(100_000).serverless_monthly)


def test_a_serverless_endpoint_costs_nothing_per_hour_in_an_executions_report() -> None:
    class SageMaker:
        def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
            return {"EndpointConfigName": "cfg", "ProductionVariants": [{"VariantName": "AllTraffic"}]}

        def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
            serverless = {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
            return {"ProductionVariants": [{"VariantName": "AllTraffic", "ServerlessConfig": serverless}]}

    visit = Visit(
        "CreateEndpoint",
        "Task",
        entered=T0,
        resource="sagemaker:createEndpoint",
        parameters={"EndpointName": "digits", "EndpointConfigName": "cfg"},
    )
    line = endpoint_line(SageMaker(), visit, NOW)

    assert line.instance_type == "serverless 3072 MB"
    assert line.price_per_hour == 0 and line.billed == 0
    assert "billed per request" in line.note


def test_the_readmes_endpoint_prices_are_what_the_command_prints(invoke: Invoke) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    [arguments] = re.findall(r"`mlpipeline costs (--endpoint-estimate [^`]+)`", readme)
    section = readme[readme.index(arguments) :]
    stated = dict(re.findall(r"^\| (.+?) \| (\d+\.\d\d) \|$", section[: section.index("\n\n", 200)], re.M))

    result = invoke("costs", *arguments.split(), env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"│ (\S.*?\S) +│.*│ +(\d+\.\d\d) │", result.output))
    assert len(stated) == 2 and stated == printed
    endpoint = configured_endpoint()
    assert f"x {endpoint.instance_type}" in next(iter(stated))
    assert f"serverless {endpoint.serverless.memory_size_mb} MB" in stated
