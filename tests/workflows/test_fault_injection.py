"""A fault in every Task state of both workflows, transient and permanent, from the definitions.

The Task states come from the synthesized definitions (Parallel branches included); the transient
error is the first name of each state's own Retry. Each case checks that the fault really fired
in that state of that execution, then what the workflow made of it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from lambdas.model_registry import AUTOSCALING_ERROR, ModelStatus
from local_mode.cloud.executions import ExecutionResult
from pipeline_cli import approval
from pipeline_cli.definitions import all_states, definition_by_workflow
from tests.support.instant_sagemaker import NameMatcher, attempt
from tests.workflows.support import (
    PERMANENT_ERROR,
    RAW_PREFIX,
    WORKFLOWS,
    Stack,
    catch_target,
    cli_backend,
    first_retry_error,
    synthesized_app,
    task_states,
    template_json,
)

TEMPLATE: Final = template_json(synthesized_app())
KINDS: Final = ("transient", "permanent")
TRIGGER_ERROR: Final = "Injected.TriggerFailure"
INJECTED_CAUSE: Final = "fault injected by the workflow suite"


def _enclosing_catch(workflow: str) -> dict[str, str | None]:
    """Where a failure of each Task state goes: its own Catch, else that of its Parallel."""
    definition = definition_by_workflow(TEMPLATE, workflow)
    targets: dict[str, str | None] = {}

    def walk(states: dict[str, Any], inherited: str | None) -> None:
        for name, state in states.items():
            own = catch_target(state, states)
            targets[name] = own or inherited
            for branch in state.get("Branches", []):
                walk(branch["States"], own or inherited)

    walk(definition["States"], None)
    return targets


CATCH: Final = {workflow: _enclosing_catch(workflow) for workflow in WORKFLOWS}
TASKS: Final = {workflow: task_states(TEMPLATE, workflow) for workflow in WORKFLOWS}


def _trigger_for(workflow: str, handler: str, state: str) -> str:
    """`state`, a Task on every run's path whose failure goes to `handler` (to reach a failure handler)."""
    assert state in TASKS[workflow] and CATCH[workflow][state] == handler, (state, CATCH[workflow].get(state))
    return state


# --- scenarios: the setup and input that reach a state ---------------------------------------


@dataclass(frozen=True)
class Scenario:
    """How to reach a state: a champion or not, the input, the fast backend's accuracies."""

    champion: bool = False
    input: Callable[[Stack], dict[str, Any]] = lambda stack: {}
    accuracy: tuple[tuple[NameMatcher, float], ...] = ()
    trigger: str | None = None  # a Task state to fail first (to reach a failure handler)
    approve: bool = False  # approve the model once it waits at manual approval
    setup: Callable[[Stack], object] | None = None  # runs before the faults are injected
    notes: str = ""


PLAIN: Final = Scenario()
MANUAL_APPROVAL: Final = {"gate": {"approval": "manual"}}
APPROVAL_TIMES_OUT: Final = {"gate": {"approval": "manual", "approval_timeout_seconds": 1}}
CHAMPION: Final = Scenario(champion=True, notes="a deployed champion")


def _champion_resized(*, autoscaled: bool) -> Scenario:
    """A champion served on another instance type than cdk.json's (registered for autoscaling or not):
    the update must deregister the variant first (endpoint_autoscaling.py)."""

    def setup(stack: Stack) -> object:
        stack.seed_champion()
        return stack.redeploy_on("ml.c5.large", autoscaled=autoscaled)

    return Scenario(setup=setup, notes="champion on another instance type")


SCENARIOS: Final[dict[str, dict[str, Scenario]]] = {
    "training": {
        "Preprocess": Scenario(input=lambda s: {"raw_data_uri": s.data_uri(RAW_PREFIX)}),
        # The step cache (cleared by each case's reset): preprocessing's lookup and record.
        "FindPreparedDataInCache": Scenario(input=lambda s: {"raw_data_uri": s.data_uri(RAW_PREFIX)}),
        "CachePreparedData": Scenario(input=lambda s: {"raw_data_uri": s.data_uri(RAW_PREFIX)}),
        "FindChampionTransformInCache": CHAMPION,
        "CacheChampionTransform": CHAMPION,
        # An identical earlier run deployed the champion: this run's candidate is that model.
        "RecordSameAsChampion": Scenario(
            setup=lambda s: s.run("training", {}, hint="same-model-champion"), notes="nothing to deploy"
        ),
        "Tune": Scenario(
            input=lambda s: {"tuning": {"enabled": True, "max_jobs": 2, "max_parallel_jobs": 1}}
        ),
        "DescribeBestTrainingJob": Scenario(
            input=lambda s: {"tuning": {"enabled": True, "max_jobs": 2, "max_parallel_jobs": 1}}
        ),
        "RecordTraining": CHAMPION,  # with a champion's lineage; RecordFirstModelTraining without one
        "TransformChampion": CHAMPION,
        "UpdateEndpoint": CHAMPION,
        "DescribeLiveEndpoint": CHAMPION,
        "DescribeLiveEndpointConfig": CHAMPION,
        "FindScalableTarget": _champion_resized(autoscaled=False),
        "DeregisterScalableTarget": _champion_resized(autoscaled=True),
        "PromoteAndRetire": CHAMPION,
        # Attempt 1 misses the gate, attempt 2 passes.
        "RecordRejected": Scenario(
            input=lambda s: {"gate": {"max_attempts": 2}}, accuracy=((attempt(1), 0.5),)
        ),
        # Every attempt misses the gate.
        "NotifyRejected": Scenario(input=lambda s: {"gate": {"max_attempts": 1}}, accuracy=(("", 0.5),)),
        "NotifyFailure": Scenario(trigger=_trigger_for("training", "NotifyFailure", "ValidateInput")),
        "RecordFailure": Scenario(trigger=_trigger_for("training", "RecordFailure", "Train")),
        # The model is promoted and serving when its autoscaling fails to register.
        "RecordAutoscalingFailure": Scenario(
            trigger=_trigger_for("training", "RecordAutoscalingFailure", "RegisterScalableTarget")
        ),
        "NotifyAutoscalingFailure": Scenario(trigger="RegisterScalableTarget"),
        # Manual approval: approved, or no decision within a second (rejected).
        "RequestApproval": Scenario(input=lambda s: MANUAL_APPROVAL, approve=True),
        "RecordApproved": Scenario(input=lambda s: MANUAL_APPROVAL, approve=True),
        "RecordApprovalRejected": Scenario(input=lambda s: APPROVAL_TIMES_OUT),
        "NotifyApprovalRejected": Scenario(input=lambda s: APPROVAL_TIMES_OUT),
    },
    "evaluation": {
        "*": CHAMPION,
        "Retrain": Scenario(champion=True, accuracy=(("seeded", 0.5),), notes="the champion decayed"),
        "NotifyFailure": Scenario(trigger=_trigger_for("evaluation", "NotifyFailure", "ValidateInput")),
        "RecordEvaluationFailure": Scenario(
            champion=True, trigger=_trigger_for("evaluation", "RecordEvaluationFailure", "TransformFreshData")
        ),
    },
}


def scenario_for(workflow: str, state: str) -> Scenario:
    table = SCENARIOS[workflow]
    return table.get(state) or table.get("*") or PLAIN


@dataclass(frozen=True)
class Case:
    workflow: str
    state: str
    kind: str
    definition: dict[str, Any] = field(repr=False, compare=False)

    @property
    def error(self) -> str:
        return first_retry_error(self.definition) if self.kind == "transient" else PERMANENT_ERROR

    @property
    def id(self) -> str:
        return f"{self.workflow}-{self.state}-{self.kind}"


CASES: Final = [
    Case(workflow, name, kind, state)
    for workflow in WORKFLOWS
    for name, state in TASKS[workflow].items()
    for kind in KINDS
]

# (state, kind) → why it is expected to fail; empty: every case must pass.
KNOWN_BUGS: Final[dict[tuple[str, str, str], str]] = {}


def _param(case: Case) -> Any:
    reason = KNOWN_BUGS.get((case.workflow, case.state, case.kind))
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


# --- running a case -------------------------------------------------------------------------


@dataclass
class Outcome:
    stack: Stack
    case: Case
    result: ExecutionResult
    champion: str | None

    @property
    def arn(self) -> str:
        return self.result.execution_arn

    def items(self) -> list[dict[str, Any]]:
        return self.stack.items_of(self.arn)


def run_case(stack: Stack, case: Case) -> Outcome:
    scenario = scenario_for(case.workflow, case.state)
    if scenario.setup is not None:
        scenario.setup(stack)
    champion = stack.seed_champion() if scenario.champion else None
    for match, accuracy in scenario.accuracy:
        stack.sagemaker.set_model_accuracy(match, accuracy)
    if scenario.trigger:
        stack.inject(case.workflow, scenario.trigger, TRIGGER_ERROR, cause="the trigger failure")
    stack.inject(case.workflow, case.state, case.error, cause=INJECTED_CAUSE)
    arn = stack.start(case.workflow, scenario.input(stack), case.id)
    with approving(stack, arn) if scenario.approve else contextlib.nullcontext():
        result = stack.wait(arn)
    attempts = stack.calls(arn, case.state)
    assert any(a.injected and a.error == case.error for a in attempts), (
        f"{case.state} was not reached with the fault injected; states entered: {result.entered_states()}"
    )
    assert stack.cloud.hooks.pending_injections() == []
    return Outcome(stack, case, result, champion)


@contextlib.contextmanager
def approving(stack: Stack, arn: str) -> Iterator[None]:
    """Approve the execution's model, as `mlpipeline approve` does, whenever it waits for a decision."""
    done = threading.Event()

    def approve_when_pending() -> None:
        while not done.wait(0.02):
            waiting = [i for i in stack.items_of(arn) if i["status"] == ModelStatus.PENDING_APPROVAL]
            if waiting:
                approval.approve(cli_backend(stack), str(waiting[0]["model_name"]), "fault-injection suite")
                return

    approver = threading.Thread(target=approve_when_pending, daemon=True)
    approver.start()
    try:
        yield
    finally:
        done.set()
        approver.join()


def assert_retried_then_succeeded(outcome: Outcome) -> None:
    attempts = outcome.stack.calls(outcome.arn, outcome.case.state)
    assert [(a.injected, a.outcome) for a in attempts[:2]] == [(True, "failed"), (False, "succeeded")]


def assert_failed_and_notified(outcome: Outcome, error: str) -> dict[str, Any]:
    result = outcome.result
    assert (result.status, result.error) == ("FAILED", error), result.cause
    [notification] = outcome.stack.notifications(outcome.arn, "FAILED")
    assert notification["error"] == error
    assert notification["workflow"] == outcome.case.workflow
    return notification


def assert_evaluation_failure_recorded(outcome: Outcome, error: str) -> None:
    champion = outcome.stack.items()[str(outcome.champion)]
    assert champion["status"] == ModelStatus.DEPLOYED
    *_, last = champion["evaluations"]
    assert last["error"] == error
    assert last["execution_arn"] == outcome.arn


def assert_deployed_without_autoscaling(outcome: Outcome, error: str | None) -> None:
    """The candidate serves and is DEPLOYED, with the autoscaling failure on it (None: not recorded)."""
    assert_deployed(outcome)
    [item] = outcome.items()
    assert item.get(AUTOSCALING_ERROR) == error


def assert_deployed(outcome: Outcome) -> None:
    items = outcome.items()
    assert items and items[-1]["status"] == ModelStatus.DEPLOYED, items
    assert outcome.stack.deployed() == [items[-1]["model_name"]]
    if outcome.champion:
        assert outcome.stack.items()[outcome.champion]["status"] == ModelStatus.RETIRED


# --- what each kind of fault must lead to ------------------------------------------------------


def expect_transient(outcome: Outcome) -> None:
    case, result = outcome.case, outcome.result
    assert_retried_then_succeeded(outcome)
    if case.state == "NotifyFailure":  # reached only on a failure: the failure is still announced
        assert_failed_and_notified(outcome, TRIGGER_ERROR)
        return
    if case.state == "RecordFailure":
        assert_failed_and_notified(outcome, TRIGGER_ERROR)
        [item] = outcome.items()
        assert (item["status"], item["failure_error"]) == (ModelStatus.FAILED, TRIGGER_ERROR)
        return
    if case.state == "RecordEvaluationFailure":
        assert_failed_and_notified(outcome, TRIGGER_ERROR)
        assert_evaluation_failure_recorded(outcome, TRIGGER_ERROR)
        return
    if case.state in ("RecordAutoscalingFailure", "NotifyAutoscalingFailure"):
        assert_failed_and_notified(outcome, TRIGGER_ERROR)
        assert_deployed_without_autoscaling(outcome, TRIGGER_ERROR)
        return
    if case.state == "RecordSameAsChampion":  # the candidate is the champion: nothing to deploy
        assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
        assert result.entered_states()[-1] == "ChampionAlreadyDeployed"
        return
    if case.state in ("NotifyRejected", "RecordApprovalRejected", "NotifyApprovalRejected"):
        assert (result.status, result.error) == ("FAILED", "ModelRejected")
        assert len(outcome.stack.notifications(outcome.arn, "REJECTED")) == 1
        return
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    if case.workflow == "training":
        assert_deployed(outcome)
    elif case.state == "Retrain":
        assert result.output["retraining"]["status"] == "SUCCEEDED"
    else:
        assert outcome.stack.items()[str(outcome.champion)]["status"] == ModelStatus.DEPLOYED


def expect_permanent(outcome: Outcome) -> None:
    case, result, stack = outcome.case, outcome.result, outcome.stack
    special = PERMANENT_EXPECTATIONS.get((case.workflow, case.state))
    if special is not None:
        special(outcome)
        return
    notification = assert_failed_and_notified(outcome, PERMANENT_ERROR)
    assert INJECTED_CAUSE in notification["cause"]
    assert INJECTED_CAUSE in str(result.cause)
    if case.workflow == "evaluation":
        # The deployed model is left as it was; evaluation failures are not model failures.
        if outcome.champion:
            assert stack.items()[outcome.champion]["status"] == ModelStatus.DEPLOYED
        if CATCH[case.workflow][case.state] == "RecordEvaluationFailure":  # it joins the model's history
            assert_evaluation_failure_recorded(outcome, PERMANENT_ERROR)
        if case.state == "Retrain":
            assert stack.children(outcome.arn) == []
        return
    items = outcome.items()
    if CATCH[case.workflow][case.state] == "RecordFailure":  # the model's item exists: it is FAILED
        [item] = items
        assert item["status"] == ModelStatus.FAILED
        assert item["failure_error"] == PERMANENT_ERROR
        assert INJECTED_CAUSE in item["failure_cause"]
    else:  # failed before the model's item was written
        assert items == []
    if outcome.champion:  # a failed candidate leaves the champion in place
        assert stack.deployed() == [outcome.champion]


def _notify_deployed_permanent(outcome: Outcome) -> None:
    # Documented: the deployment stands when its announcement cannot be sent.
    assert outcome.result.status == "SUCCEEDED", outcome.result.cause
    assert_deployed(outcome)
    assert outcome.stack.notifications(outcome.arn, "DEPLOYED") == []


def _notify_rejected_permanent(outcome: Outcome) -> None:
    # Documented: the catch goes straight to the ModelRejected Fail state.
    assert (outcome.result.status, outcome.result.error) == ("FAILED", "ModelRejected")
    assert outcome.stack.notifications(outcome.arn) == []
    assert [i["status"] for i in outcome.items()] == [ModelStatus.REJECTED]


def _notify_approval_rejected_permanent(outcome: Outcome) -> None:
    # The rejection is recorded; an announcement that cannot be sent does not change the outcome.
    assert (outcome.result.status, outcome.result.error) == ("FAILED", "ModelRejected")
    assert outcome.stack.notifications(outcome.arn, "REJECTED") == []
    assert [i["status"] for i in outcome.items()] == [ModelStatus.REJECTED]


def _request_approval_permanent(outcome: Outcome) -> None:
    # Its first Catch is the reviewer's rejection: any other error still marks the model FAILED.
    assert_failed_and_notified(outcome, PERMANENT_ERROR)
    [item] = outcome.items()
    assert (item["status"], item["failure_error"]) == (ModelStatus.FAILED, PERMANENT_ERROR)
    assert outcome.stack.deployed() == []


def _notify_failure_permanent(outcome: Outcome) -> None:
    # Documented ("a notification that cannot be sent must not hide the original failure"): the
    # execution fails with the error that led to NotifyFailure, not with the notification's.
    assert outcome.stack.notifications(outcome.arn) == []
    assert (outcome.result.status, outcome.result.error) == ("FAILED", TRIGGER_ERROR)


def _record_failure_permanent(outcome: Outcome) -> None:
    # The registry cannot be written: the failure is still announced and the execution fails,
    # with the error that started it.
    assert_failed_and_notified(outcome, TRIGGER_ERROR)
    [item] = outcome.items()
    assert item["status"] == ModelStatus.TRAINING


def _record_evaluation_failure_permanent(outcome: Outcome) -> None:
    # The history cannot be written: the failure is still announced, with the error that started it.
    assert_failed_and_notified(outcome, TRIGGER_ERROR)
    champion = outcome.stack.items()[str(outcome.champion)]
    assert champion["status"] == ModelStatus.DEPLOYED
    assert "evaluations" not in champion


def _autoscaling_permanent(outcome: Outcome) -> None:
    # The model went live and was promoted first: it stays DEPLOYED, the failure on it, notified.
    notification = assert_failed_and_notified(outcome, PERMANENT_ERROR)
    assert (notification["model_name"], notification["deployed"]) == (outcome.items()[0]["model_name"], True)
    assert_deployed_without_autoscaling(outcome, PERMANENT_ERROR)


def _record_autoscaling_failure_permanent(outcome: Outcome) -> None:
    # The registry cannot be written: still announced, and the run fails with the autoscaling error.
    assert_failed_and_notified(outcome, TRIGGER_ERROR)
    assert_deployed_without_autoscaling(outcome, None)


def _notify_autoscaling_failure_permanent(outcome: Outcome) -> None:
    assert outcome.stack.notifications(outcome.arn) == []
    assert (outcome.result.status, outcome.result.error) == ("FAILED", TRIGGER_ERROR)
    assert_deployed_without_autoscaling(outcome, TRIGGER_ERROR)


PERMANENT_EXPECTATIONS: Final[dict[tuple[str, str], Callable[[Outcome], None]]] = {
    ("training", "RegisterScalableTarget"): _autoscaling_permanent,
    ("training", "PutScalingPolicy"): _autoscaling_permanent,
    ("training", "RecordAutoscalingFailure"): _record_autoscaling_failure_permanent,
    ("training", "NotifyAutoscalingFailure"): _notify_autoscaling_failure_permanent,
    ("training", "NotifyDeployed"): _notify_deployed_permanent,
    ("training", "NotifyRejected"): _notify_rejected_permanent,
    ("training", "NotifyApprovalRejected"): _notify_approval_rejected_permanent,
    ("training", "RequestApproval"): _request_approval_permanent,
    ("training", "NotifyFailure"): _notify_failure_permanent,
    ("training", "RecordFailure"): _record_failure_permanent,
    ("evaluation", "NotifyFailure"): _notify_failure_permanent,
    ("evaluation", "RecordEvaluationFailure"): _record_evaluation_failure_permanent,
}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_fault(stack: Stack, case: Case) -> None:
    outcome = run_case(stack, case)
    if case.kind == "transient":
        expect_transient(outcome)
    else:
        expect_permanent(outcome)


def test_every_task_state_of_both_workflows_gets_both_faults() -> None:
    for workflow in WORKFLOWS:
        definition = definition_by_workflow(TEMPLATE, workflow)
        tasks = {name for name, state in all_states(definition).items() if state["Type"] == "Task"}
        assert tasks, workflow
        for kind in KINDS:
            exercised = {c.state for c in CASES if c.workflow == workflow and c.kind == kind}
            assert exercised == tasks, f"{workflow} {kind}: missing {sorted(tasks - exercised)}"
        for name in tasks:  # a transient fault needs a Retry to be transient
            assert definition and first_retry_error(all_states(definition)[name])
    # Knowledge about particular states must not go stale when the definitions change.
    named = {
        *[(workflow, state) for workflow, table in SCENARIOS.items() for state in table if state != "*"],
        *PERMANENT_EXPECTATIONS,
        *[(workflow, state) for workflow, state, _ in KNOWN_BUGS],
    }
    stale = {(workflow, state) for workflow, state in named if state not in TASKS[workflow]}
    assert not stale, f"scenarios or expectations for states the definitions lack: {sorted(stale)}"
