"""Every command against local mode: the real synthesized workflows in LocalCloud, real executions.

The stack is shared by the package (see conftest.py): each test trains the models it needs and
asserts about those, whatever other tests left in the registry.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from tests.cli.conftest import Invoke, LocalStack

ARN = re.compile(r"arn:aws:states:\S+:execution:\S+")
TRAINING_PRICE = 1.408  # ml.g5.xlarge in the bundled price table (the stack's default training instance)
TRANSFORM_PRICE = 0.23  # ml.m5.xlarge


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _model_of(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    [model] = [m for m in stack.registry().values() if m["execution_arn"] == execution_arn]
    return model


def _failed_training(stack: LocalStack) -> str:
    """An execution whose training job fails with an error no Retry matches."""
    stack.cloud.hooks.inject("Train", error="SageMaker.ResourceNotFoundException", times=1)
    result = stack.train(name=_name("fails"))
    assert result.status == "FAILED"
    return result.execution_arn


def _classes(diagram: str) -> dict[str, set[str]]:
    """Mermaid `class A,B css` lines → css class → node ids."""
    found: dict[str, set[str]] = {}
    for nodes, css in re.findall(r"^\s+class (\S+) (\w+)$", diagram, re.MULTILINE):
        found.setdefault(css, set()).update(nodes.split(","))
    return found


# --- start / watch ---------------------------------------------------------------------------------


def test_start_validates_then_runs_training_to_a_deployed_model(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    result = local_invoke("start", "--set", "hyperparameters.epochs=3", "--set", "reason=cli test", "--wait")

    assert result.exit_code == 0, result.output
    arn = ARN.search(result.stdout)
    assert arn is not None
    assert "SUCCEEDED" in result.stdout
    assert re.search(r"Train .* succeeded .* Completed/Completed val_accuracy=0.981", result.stdout)
    model = _model_of(local_stack, arn.group(0))
    assert model["status"] == "DEPLOYED" and model["reason"] == "cli test"
    assert json.loads(model["hyperparameters"])["epochs"] == "3"


def test_bad_input_is_refused_before_anything_starts(local_invoke: Invoke, local_stack: LocalStack) -> None:
    sfn = local_stack.cloud.client("stepfunctions")
    machine = local_stack.outputs["TrainingWorkflowArn"]
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])

    result = local_invoke("start", "--set", "hyperparameters.epochs=0", "--set", "gate.metric=recall")

    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "hyperparameters.epochs" in line and "gate.metric" in line
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before


def test_dry_run_completes_the_input_with_the_stacks_defaults(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    result = local_invoke("start", "-w", "evaluation", "--set", "threshold=0.9", "--dry-run")

    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["threshold"] == 0.9
    assert run["data_uri"] == f"s3://{local_stack.outputs['DataBucketName']}/labelled/latest/"
    assert run["transform"] == {"instance_type": "ml.m5.xlarge", "instance_count": 1}


def test_watch_of_a_failed_execution_shows_the_error_and_exits_non_zero(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    arn = _failed_training(local_stack)

    result = local_invoke("watch", arn)

    assert result.exit_code == 1
    assert "FAILED" in result.stdout and "SageMaker.ResourceNotFoundException" in result.stdout
    assert "cause: fault injected by local mode into state Train" in result.stdout
    assert re.search(r"│ Train\s+│ Task\s+│ ! caught", result.stdout)
    assert re.search(r"│ WorkflowFailed\s+│ Fail\s+│ ✗ failed", result.stdout)


def test_evaluation_workflow_records_an_evaluation_on_the_deployed_model(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    deployed = _model_of(local_stack, local_stack.train(name=_name("evaluated")).execution_arn)

    result = local_invoke("start", "-w", "evaluation", "--set", "retrain=false", "--wait")

    assert result.exit_code == 0, result.output
    assert re.search(r"│ ModelHealthy\s+│ Succeed", result.stdout)
    shown = local_invoke("models", "show", deployed["model_name"])
    assert shown.exit_code == 0, shown.output
    assert "Evaluation history" in shown.stdout
    assert deployed["evaluation_report_uri"] in shown.stdout
    assert deployed["evaluation_report_uri"].replace("report.json", "confusion_matrix.png") in shown.stdout
    raw = json.loads(local_invoke("models", "show", deployed["model_name"], "--json").stdout)
    [evaluation] = raw["evaluations"]
    assert evaluation["metrics"]["accuracy"] == 1 and evaluation["metrics"]["records"] == 20


# --- graph -----------------------------------------------------------------------------------------


def test_graph_colours_an_execution_like_the_console(local_invoke: Invoke, local_stack: LocalStack) -> None:
    arn = _failed_training(local_stack)

    result = local_invoke("graph", "--execution", arn)

    assert result.exit_code == 0, result.output
    classes = _classes(result.stdout)
    assert {"ValidateInput", "PlanAttempt", "RecordFailure"} <= classes["succeeded"]
    assert classes["caught"] == {"Train"}
    assert classes["failed"] == {"WorkflowFailed"}
    assert {"Deployed", "Evaluate_b0_TransformCandidate", "CreateModel"} <= classes["notrun"]


def test_graph_of_the_sessions_template_and_its_mistakes(local_invoke: Invoke, tmp_path: Path) -> None:
    out = tmp_path / "evaluation.mmd"
    drawn = local_invoke("graph", "-w", "evaluation", "--output", str(out))
    assert drawn.exit_code == 0, drawn.output
    assert out.read_text().startswith("flowchart TD\n") and "FindDeployedModel" in out.read_text()
    assert "classDef" not in out.read_text()

    png = local_invoke("graph", "--format", "png")
    assert png.exit_code == 2 and "name the file with --output" in png.stderr


def test_graph_refuses_an_execution_of_the_other_workflow(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    arn = local_stack.train(name=_name("other")).execution_arn

    result = local_invoke("graph", "--execution", arn, "--workflow", "evaluation")

    assert result.exit_code == 2
    assert "execution of the training workflow, not evaluation" in result.stderr


# --- models ----------------------------------------------------------------------------------------


def test_models_lists_the_registry_and_filters_by_status(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    failed = _model_of(local_stack, _failed_training(local_stack))["model_name"]
    deployed = _model_of(local_stack, local_stack.train(name=_name("listed")).execution_arn)["model_name"]

    everything = local_invoke("models")
    only_failed = local_invoke("models", "--status", "FAILED")

    assert everything.exit_code == 0 and only_failed.exit_code == 0
    assert re.search(
        rf"{deployed}\s+│ DEPLOYED\s+│ 1\s+│.*│ {deployed}\s+│ yes \(tf2-digits\)", everything.stdout
    )
    assert re.search(rf"{failed}\s+│ FAILED", everything.stdout)
    assert failed in only_failed.stdout and deployed not in only_failed.stdout


def test_target_options_work_before_and_after_the_subcommand(invoke: Invoke, local_stack: LocalStack) -> None:
    name = _model_of(local_stack, local_stack.train(name=_name("shown")).execution_arn)["model_name"]
    env = {"MLPIPELINE_SESSION": str(local_stack.session_file)}

    for args in (("models", "--local", "show", name), ("models", "show", name, "--local")):
        result = invoke(*args, "--json", env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["model_name"] == name


def test_models_show_of_an_unknown_model(local_invoke: Invoke) -> None:
    result = local_invoke("models", "show", "no-such-model")

    assert result.exit_code == 1
    assert result.stderr == "error: No model named no-such-model in the registry: see `models`.\n"


# --- rollback --------------------------------------------------------------------------------------


def test_rollback_redeploys_the_previous_champion_and_swaps_the_registry(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    first = _model_of(local_stack, local_stack.train(name=_name("first")).execution_arn)
    second = _model_of(local_stack, local_stack.train(name=_name("second")).execution_arn)
    assert local_stack.registry()[first["model_name"]]["retired_by"] == second["model_name"]

    result = local_invoke("rollback", "--yes")

    assert result.exit_code == 0, result.output
    registry = local_stack.registry()
    assert registry[first["model_name"]]["status"] == "DEPLOYED"
    assert registry[first["model_name"]]["endpoint_config_name"] == first["endpoint_config_name"]
    assert registry[second["model_name"]]["status"] == "RETIRED"
    assert registry[second["model_name"]]["retired_by"] == first["model_name"]
    endpoint = local_stack.sagemaker.describe_endpoint({"EndpointName": "tf2-digits"})
    assert endpoint["EndpointConfigName"] == first["endpoint_config_name"]
    operation, update = local_stack.sagemaker.requests[-1]
    assert operation == "UpdateEndpoint"  # blue/green with the alarm, exactly as the workflow updates
    assert update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"][0]["AlarmName"].startswith(
        "TfModelLifecycle-EndpointErrorsAlarm"
    )


def test_rollback_recreates_a_deleted_endpoint_config(local_invoke: Invoke, local_stack: LocalStack) -> None:
    first = _model_of(local_stack, local_stack.train(name=_name("first")).execution_arn)
    local_stack.train(name=_name("second"))
    local_stack.sagemaker.delete_endpoint_config({"EndpointConfigName": first["endpoint_config_name"]})

    result = local_invoke("rollback", "--to", first["model_name"], "--yes")

    assert result.exit_code == 0, result.output
    config = local_stack.registry()[first["model_name"]]["endpoint_config_name"]
    assert config != first["endpoint_config_name"] and config.startswith(first["model_name"])
    [variant] = local_stack.sagemaker.describe_endpoint_config({"EndpointConfigName": config})[
        "ProductionVariants"
    ]
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": first["model_name"],
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    endpoint = local_stack.sagemaker.describe_endpoint({"EndpointName": "tf2-digits"})
    assert endpoint["EndpointConfigName"] == config


def test_rollback_refuses_models_that_cannot_be_deployed(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    failed = _model_of(local_stack, _failed_training(local_stack))["model_name"]

    refused = local_invoke("rollback", "--to", failed, "--yes")
    unknown = local_invoke("rollback", "--to", "no-such-model", "--yes")

    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: {failed} is FAILED: its training run failed (SageMaker.ResourceNotFoundException); "
        "only RETIRED or EVALUATED models can be deployed.\n"
    )
    assert unknown.exit_code == 1 and "No model named no-such-model" in unknown.stderr
    assert local_stack.registry()[failed]["status"] == "FAILED"


def test_rollback_asks_first_and_changes_nothing_when_declined(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    local_stack.train(name=_name("first"))
    local_stack.train(name=_name("second"))
    before = local_stack.registry()
    calls = len(local_stack.sagemaker.requests)

    result = local_invoke("rollback", input="n\n")

    assert result.exit_code == 1
    assert "Deploy it?" in result.stdout
    assert local_stack.registry() == before
    assert len(local_stack.sagemaker.requests) == calls


# --- costs -----------------------------------------------------------------------------------------


def test_costs_of_a_training_execution(local_invoke: Invoke, local_stack: LocalStack) -> None:
    result_of_run = local_stack.train(name=_name("costed"))
    model = _model_of(local_stack, result_of_run.execution_arn)

    result = local_invoke("costs", result_of_run.execution_arn)

    assert result.exit_code == 0, result.output
    training = 240 / 3600 * TRAINING_PRICE  # the instant runner bills 240 s of a 600 s spot job
    on_demand = 600 / 3600 * TRAINING_PRICE
    transform = 90 / 3600 * TRANSFORM_PRICE
    name = model["model_name"]
    assert re.search(
        rf"│ training\s+│ {name}\s+│ ml.g5.xlarge │ 1\s+│ 4m 00s\s+│ 0.067\s+│\s+1.408 │\s+{on_demand:.4f} │"
        rf"\s+{training:.4f} │ spot: 60% saved",
        result.stdout,
    )
    assert re.search(
        rf"│ transform\s+│ {name}-eval\s+│ ml.m5.xlarge │ 1\s+│ 1m 30s .*{transform:.4f}", result.stdout
    )
    assert re.search(r"│ endpoint\s+│ tf2-digits \(" + name, result.stdout)
    total = re.search(r"│\s+│ total .*?│\s+([0-9.]+) │\s+([0-9.]+) │ saved", result.stdout)
    assert total is not None
    assert float(total.group(2)) >= round(training + transform, 4)
    assert "snapshot of" in result.stdout


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_execution_is_one_line(local_invoke: Invoke, local_stack: LocalStack) -> None:
    missing = local_stack.outputs["TrainingWorkflowArn"].replace(":stateMachine:", ":execution:") + ":nope"

    for command in ("watch", "costs"):
        result = local_invoke(command, missing)
        assert result.exit_code == 1
        assert (
            result.stderr == f"error: Execution {missing} not found: check the ARN, and --region / --local.\n"
        )


def test_no_local_session(invoke: Invoke, tmp_path: Path, local_stack: LocalStack) -> None:
    missing = invoke("--local", "models", env={"MLPIPELINE_SESSION": str(tmp_path / "session.json")})
    assert missing.exit_code == 1
    assert missing.stderr.startswith(f"error: No local session: {tmp_path / 'session.json'} does not exist;")
    assert "python -m local_mode serve" in missing.stderr

    stopped = tmp_path / "stopped.json"
    session = json.loads(local_stack.session_file.read_text())
    stopped.write_text(json.dumps({**session, "endpoint_url": "http://127.0.0.1:9"}))  # nothing listens on 9
    result = invoke("models", "--local", env={"MLPIPELINE_SESSION": str(stopped)})
    assert result.exit_code == 1
    assert "is not running (nothing answers at http://127.0.0.1:9)" in result.stderr
    assert len(result.stderr.splitlines()) == 1

    older = tmp_path / "older.json"
    older.write_text(json.dumps({k: v for k, v in session.items() if k != "sagemaker_api_url"}))
    result = invoke("--local", "rollback", "--yes", env={"MLPIPELINE_SESSION": str(older)})
    assert result.exit_code == 1
    assert "This local session does not serve the SageMaker API (no sagemaker_api_url" in result.stderr
