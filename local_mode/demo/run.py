"""`make demo`: the whole life cycle on this machine, from the synthesized workflows.

The story: clean digits arrive → the training workflow preprocesses, trains, evaluates,
gates and deploys → the endpoint answers → shifted digits arrive → the evaluation
workflow sees the deployed model decay and retrains on old + new data → the new model
replaces the champion and now reads the shifted digits. Exit code 0 only when every
step ended as the story says.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from rich.console import Console
from rich.table import Table

from contract import PREPROCESSING_ENTRY_POINT, TRANSFORM_CHANNEL
from lambdas.artifact_layout import CAPTURE_PREFIX
from lambdas.model_registry import deployed_names, read_models
from local_mode.demo.data import Variant, digits_images, write_digits_raw
from local_mode.sagemaker.serving.data_capture import wait_for_capture_records
from local_mode.session import LocalSession, open_session, write_session_file

REPO_ROOT = Path(__file__).resolve().parents[2]
RAW_PREFIX = "raw/digits/"
EVALUATION_PREFIX = "labelled/latest/"
EXECUTION_TIMEOUT_SECONDS = 900.0
SAMPLE_SIZE = 200


class StoryBroken(RuntimeError):
    """A step of the story did not end as it should; later steps would only add noise."""


@dataclass
class DemoSummary:
    """What happened, written to `local-run/summary.json`."""

    phases: dict[str, float] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    endpoint: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


class Demo:
    """One run of the story against a local session."""

    def __init__(self, session: LocalSession, console: Console, summary: DemoSummary) -> None:
        self.session = session
        self.console = console
        self.summary = summary
        self.outputs = session.outputs
        self.s3 = session.cloud.client("s3")
        self.data_bucket = str(self.outputs["DataBucketName"])
        self.scratch = Path(tempfile.mkdtemp(prefix="demo-", dir=session.workdir))
        self.invocations = 0  # endpoint requests sent: what data capture should record

    # -- phases ----------------------------------------------------------------------------------

    @contextmanager
    def phase(self, title: str) -> Iterator[None]:
        self.console.rule(f"[bold]{title}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.summary.phases[title] = round(time.perf_counter() - started, 1)

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        self.summary.checks[name] = passed
        mark = "[green]✔[/]" if passed else "[red]✘[/]"
        self.console.print(f"{mark} {name}{f' — {detail}' if detail else ''}")
        if not passed:
            raise StoryBroken(f"{name}: {detail}")

    # -- data ------------------------------------------------------------------------------------

    def upload_raw(self, variant: Variant, batch: str) -> str:
        path = write_digits_raw(self.scratch / batch, variant=variant)
        key = f"{RAW_PREFIX}{batch}/{path.name}"
        self.s3.upload_file(str(path), self.data_bucket, key)
        self.console.print(f"uploaded {variant} digits to s3://{self.data_bucket}/{key}")
        return key

    def prepare_labelled(self, variant: Variant, seed: int) -> str:
        """Fresh labelled data, transform-ready, prepared by the same preprocessing script."""
        raw = write_digits_raw(self.scratch / f"labelled-{variant}", variant=variant, seed=seed)
        output = self.scratch / "labelled-prepared"
        subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "training_code" / PREPROCESSING_ENTRY_POINT),
                "--input",
                str(raw.parent),
                "--output-dir",
                str(output),
                "--all-to-transform",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        for file in sorted((output / TRANSFORM_CHANNEL).iterdir()):
            self.s3.upload_file(
                str(file), self.data_bucket, f"{EVALUATION_PREFIX}{TRANSFORM_CHANNEL}/{file.name}"
            )
        uri = f"s3://{self.data_bucket}/{EVALUATION_PREFIX}"
        self.console.print(f"prepared fresh labelled {variant} digits at {uri}")
        return uri

    # -- workflows -------------------------------------------------------------------------------

    def run_workflow(self, output_name: str, execution_input: dict[str, Any], name: str) -> dict[str, Any]:
        arn = self.session.cloud.start_execution(str(self.outputs[output_name]), execution_input, name=name)
        watch_execution(self.session.cloud.client("stepfunctions"), arn, self.console.print)
        description = self.session.cloud.client("stepfunctions").describe_execution(executionArn=arn)
        record = {
            "workflow": output_name,
            "name": name,
            "status": description["status"],
            "output": json.loads(description.get("output") or "null"),
            "error": description.get("error"),
            "cause": description.get("cause"),
        }
        self.summary.executions.append({k: v for k, v in record.items() if k != "output"})
        return record

    # -- endpoint --------------------------------------------------------------------------------

    def endpoint_accuracy(self, variant: Variant, seed: int, show: int = 0) -> float:
        images, labels = digits_images(variant, seed=seed)
        pick = np.random.default_rng(seed).choice(len(labels), size=SAMPLE_SIZE, replace=False)
        predicted = self.predict(images[pick])
        for image, guess in list(zip(pick, predicted, strict=True))[:show]:
            self.console.print(f"  image {int(image):4d}: label {int(labels[image])} → predicted {guess}")
        return float(np.mean(np.asarray(predicted) == labels[pick]))

    def predict(self, images: np.ndarray) -> list[int]:
        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=self.session.sagemaker.server_url,
            region_name=self.session.cloud.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        body = json.dumps({"instances": images.reshape(len(images), -1).astype(float).tolist()})
        response = runtime.invoke_endpoint(
            EndpointName=str(self.outputs["EndpointName"]), ContentType="application/json", Body=body
        )
        self.invocations += 1
        predictions = json.loads(response["Body"].read())["predictions"]
        return [int(np.argmax(row)) for row in predictions]

    def captured_requests(self, timeout: float = 5.0) -> int:
        """Records the endpoint's data capture wrote under capture/<endpoint>/ (JSON Lines).

        Capture is written after each answer, as SageMaker's is: wait (bounded) for every request.
        """
        destination = f"s3://{self.outputs['ArtifactsBucketName']}/{CAPTURE_PREFIX}"
        records = wait_for_capture_records(
            self.s3, destination, str(self.outputs["EndpointName"]), count=self.invocations, timeout=timeout
        )
        return len(records)

    # -- registry --------------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """The registry, oldest model first."""
        table = str(self.outputs["ModelRegistryTableName"])
        return read_models(self.session.cloud.client("dynamodb"), table)[::-1]

    def deployed(self) -> list[str]:
        return deployed_names(
            self.session.cloud.client("dynamodb"), str(self.outputs["ModelRegistryTableName"])
        )

    def show_registry(self) -> None:
        table = Table(title="Model registry")
        for column in ("model", "status", "accuracy", "attempt", "reason", "evaluations"):
            table.add_column(column)
        for model in self.summary.models:
            table.add_row(
                str(model["model_name"]),
                str(model["status"]),
                f"{model.get('gate_metric', '')}",
                str(model.get("attempt", "")),
                str(model.get("reason", ""))[:60],
                str(len(model.get("evaluations", []))),
            )
        self.console.print(table)


def tell_story(demo: Demo) -> None:
    """The demo's phases, in order; each records its checks."""
    cloud = demo.session.cloud
    stack = cloud.client("cloudformation").describe_stacks(StackName=cloud.stack_name)["Stacks"][0]
    demo.check(
        f"{cloud.stack_name} deployed by cdk deploy",
        stack["StackStatus"] == "CREATE_COMPLETE" and len(stack.get("Outputs") or []) > 0,
        f"{stack['StackStatus']}, {len(stack.get('Outputs') or [])} outputs",
    )
    with demo.phase("Clean digits arrive"):
        demo.upload_raw("clean", "batch-1")
    with demo.phase("Training workflow: preprocess, train, evaluate, gate, deploy"):
        first = demo.run_workflow(
            "TrainingWorkflowArn",
            {"raw_data_uri": f"s3://{demo.data_bucket}/{RAW_PREFIX}", "reason": "demo: first model"},
            "demo-train-1",
        )
        demo.check(
            "first training run deployed a model",
            first["status"] == "SUCCEEDED",
            first["status"] if first["status"] == "SUCCEEDED" else f"{first['error']}: {first['cause']}",
        )
        champion = demo.deployed()
        demo.check("exactly one model is DEPLOYED", len(champion) == 1, ", ".join(champion))
    with demo.phase("The endpoint answers"):
        clean = demo.endpoint_accuracy("clean", seed=0, show=5)
        before = demo.endpoint_accuracy("shifted", seed=1)
        demo.summary.endpoint.update(
            {"clean_accuracy_first_model": clean, "shifted_accuracy_first_model": before}
        )
        demo.check("first model reads clean digits", clean >= 0.9, f"{clean:.3f} on {SAMPLE_SIZE} images")
        demo.console.print(f"shifted digits, first model: {before:.3f}")
        captured = demo.captured_requests()
        demo.summary.endpoint["captured_requests"] = captured
        demo.check(
            "data capture recorded the requests",
            captured > 0,
            f"{captured} of {demo.invocations} requests captured under s3://{demo.outputs['ArtifactsBucketName']}/{CAPTURE_PREFIX}",
        )
    with demo.phase("Shifted digits arrive"):
        demo.upload_raw("shifted", "batch-2")
        demo.prepare_labelled("shifted", seed=2)
    with demo.phase("Evaluation workflow: detect decay, retrain on old + new data"):
        evaluation = demo.run_workflow("EvaluationWorkflowArn", {}, "demo-evaluate-1")
        retraining = (evaluation["output"] or {}).get("retraining", {})
        demo.check(
            "evaluation found the decay and retrained",
            evaluation["status"] == "SUCCEEDED" and retraining.get("status") == "SUCCEEDED",
            evaluation["cause"] or str(retraining),
        )
        new_champion = demo.deployed()
        demo.check(
            "the retrained model replaced the champion",
            len(new_champion) == 1 and new_champion != champion,
            f"{champion} → {new_champion}",
        )
    with demo.phase("The new champion"):
        after = demo.endpoint_accuracy("shifted", seed=1, show=5)
        clean_after = demo.endpoint_accuracy("clean", seed=0)
        demo.summary.endpoint.update(
            {"shifted_accuracy_new_model": after, "clean_accuracy_new_model": clean_after}
        )
        demo.check(
            "shifted digits are now read well", after >= 0.9 and after > before, f"{before:.3f} → {after:.3f}"
        )
        demo.summary.models = demo.models()
        statuses = {model["model_name"]: model["status"] for model in demo.summary.models}
        demo.check("the old champion is RETIRED", all(statuses.get(name) == "RETIRED" for name in champion))
        demo.show_registry()


def run_demo(workdir: Path, console: Console) -> DemoSummary:
    """Run the story in a fresh local session; the summary is also written to `workdir`."""
    summary = DemoSummary()
    started = time.perf_counter()
    with open_session(workdir, on_log=_epoch_printer(console)) as session:
        summary.phases["Synthesize"] = round(session.synth_seconds, 1)
        summary.phases["cdk bootstrap and deploy (local account)"] = round(session.deploy_seconds, 1)
        write_session_file(session)
        demo = Demo(session, console, summary)
        try:
            tell_story(demo)
        except StoryBroken as broken:
            console.print(f"[red]demo stopped: {broken}")
        finally:
            summary.phases["total"] = round(time.perf_counter() - started, 1)
            (workdir / "summary.json").write_text(json.dumps(asdict(summary), indent=2, default=str))
    return summary


def watch_execution(
    sfn: Any,
    arn: str,
    emit: Callable[[str], None],
    *,
    timeout: float = EXECUTION_TIMEOUT_SECONDS,
    poll: float = 0.5,
) -> None:
    """Print each state as it is entered and left, with elapsed time, until the execution ends (bounded)."""
    started = time.perf_counter()
    seen = 0
    while True:
        events = _history(sfn, arn)
        for event in events[seen:]:
            line = _describe_event(event)
            if line:
                emit(f"  [{time.perf_counter() - started:6.1f}s] {line}")
        seen = len(events)
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            emit(f"  execution {arn.rsplit(':', 1)[-1]}: {status}")
            return
        if time.perf_counter() - started > timeout:
            sfn.stop_execution(
                executionArn=arn, error="DemoTimeout", cause=f"still running after {timeout} s"
            )
            raise TimeoutError(f"{arn} still running after {timeout} s")
        time.sleep(poll)


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def _describe_event(event: dict[str, Any]) -> str | None:
    kind = event["type"]
    if kind.endswith("StateEntered"):
        return f"→ {event['stateEnteredEventDetails']['name']}"
    if kind in {"TaskFailed", "ExecutionFailed", "LambdaFunctionFailed"}:
        details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        return f"✘ {details.get('error', kind)}: {str(details.get('cause', ''))[:200]}"
    return None


def _epoch_printer(console: Console) -> Callable[[str, str], None]:
    def emit(job_name: str, line: str) -> None:
        if line.startswith("metrics "):
            console.print(f"    [dim]{job_name}[/] {line}")

    return emit
