"""Pipeline benchmark: what the step cache saves, on local mode (real jobs on this machine).

    python -m benchmarks.bench_pipeline [--no-readme]

Deploys the app into a local session and runs the training workflow three times:
1. first run: raw digits → preprocessing, training, evaluation, deployment;
2. the identical run again: every job is a step-cache hit, nothing to deploy;
3. a run whose gate fails once and retrains (attempt 1 trains one epoch and misses the gate).

For each: the SageMaker jobs started, their billable seconds as `mlpipeline costs` computes them
(from the local SageMaker's Describe* times) and the wall time. Checks the targets (the identical run
starts no job and takes under 10% of the first's wall time; no retry attempt transforms the champion
again) and writes them under ``pipeline`` in ``benchmarks/results.json`` and the table between
``<!-- bench-pipeline:start -->`` and ``<!-- bench-pipeline:end -->`` in README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from local_mode.demo.data import write_digits_raw
from local_mode.session import LocalSession, open_session, write_session_file
from pipeline_cli.backend import Backend, Target, local_backend
from pipeline_cli.costs import execution_costs
from pipeline_cli.history import load_execution

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = Path(__file__).resolve().parent / "results.json"
RESULTS_KEY: Final = "pipeline"
README: Final = REPO / "README.md"
MARKERS: Final = ("<!-- bench-pipeline:start -->", "<!-- bench-pipeline:end -->")
RAW_KEY: Final = "raw/bench/digits.npz"
JOB_STATES: Final = frozenset({"Preprocess", "Train", "Tune", "TransformCandidate", "TransformChampion"})
TIMEOUT_SECONDS: Final = 1800.0
SECOND_RUN_MAX_SHARE: Final = 0.10
# Attempt 1 trains one epoch (misses the gate), attempt 2 trains 15; tolerance 1: only the threshold gates.
# Another learning rate than the first run's: attempt 2 would otherwise be the champion's own training.
RETRAIN_INPUT: Final = {
    "hyperparameters": {"epochs": 1, "learning-rate": 0.003},
    "gate": {"threshold": 0.9, "tolerance": 1.0, "max_attempts": 2, "retrain_epoch_increment": 14},
}


def backend_of(session: LocalSession) -> Backend:
    """The operator CLI's `--local` view of the session (SageMaker through the session's API server)."""
    return local_backend(Target(local=True, session_file=write_session_file(session)))


def measure(session: LocalSession, name: str, execution_input: dict[str, Any]) -> dict[str, Any]:
    """Run one training execution to its end: status, jobs started, billable seconds, wall time."""
    cloud = session.cloud
    started = time.perf_counter()
    arn = cloud.start_execution(
        str(session.outputs["TrainingWorkflowArn"]), json.dumps(execution_input), name=name
    )
    result = cloud.wait_for_execution(arn, timeout=TIMEOUT_SECONDS, poll=0.1)
    wall = time.perf_counter() - started
    view = load_execution(cloud.client("stepfunctions"), arn)
    jobs = [v.name for v in view.visits if v.name in JOB_STATES]
    lines = execution_costs(backend_of(session), arn)
    return {
        "name": name,
        "status": result.status,
        "error": result.error,
        "jobs_started": jobs,
        "billable_seconds": round(sum(line.billed_seconds * line.instance_count for line in lines), 1),
        "wall_seconds": round(wall, 2),
        "ended_at": result.entered_states()[-1] if result.entered_states() else None,
    }


def benchmark(workdir: Path) -> dict[str, Any]:
    with open_session(workdir) as session:
        s3 = session.cloud.client("s3")
        raw = write_digits_raw(workdir / "raw", variant="clean")
        data_bucket = str(session.outputs["DataBucketName"])
        s3.upload_file(str(raw), data_bucket, RAW_KEY)
        raw_input = {"raw_data_uri": f"s3://{data_bucket}/{RAW_KEY.rsplit('/', 1)[0]}/"}
        runs = [
            measure(session, "bench-first", raw_input),
            measure(session, "bench-identical", raw_input),
            measure(session, "bench-retrain", {**raw_input, **RETRAIN_INPUT}),
        ]
    first, identical, retrain = runs
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "runs": runs,
        "targets": {
            "identical_run_starts_no_job": identical["jobs_started"] == [],
            "identical_run_wall_share": round(identical["wall_seconds"] / first["wall_seconds"], 3),
            "identical_run_under_10_percent": identical["wall_seconds"]
            < SECOND_RUN_MAX_SHARE * first["wall_seconds"],
            "retry_never_transforms_the_champion": "TransformChampion" not in retrain["jobs_started"],
        },
    }


def table(results: dict[str, Any]) -> str:
    rows = [
        "| run | status | SageMaker jobs started | billable seconds | wall time |",
        "|---|---|---|---:|---:|",
    ]
    for run in results["runs"]:
        jobs = ", ".join(run["jobs_started"]) or "none"
        rows.append(
            f"| {run['name']} | {run['status']} ({run['ended_at']}) | {jobs} | "
            f"{run['billable_seconds']} | {run['wall_seconds']} s |"
        )
    targets = results["targets"]
    rows.append("")
    rows.append(
        f"Identical run: {targets['identical_run_wall_share']:.1%} of the first run's wall time, "
        f"no job started: {targets['identical_run_starts_no_job']}; the retrain never transformed the "
        f"champion again: {targets['retry_never_transforms_the_champion']} ({results['date']})."
    )
    return "\n".join(rows)


def update_readme(text: str) -> bool:
    content = README.read_text(encoding="utf-8")
    start, end = content.find(MARKERS[0]), content.find(MARKERS[1])
    if start < 0 or end < start:
        return False
    README.write_text(
        content[: start + len(MARKERS[0])] + "\n" + text + "\n" + content[end:], encoding="utf-8"
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--no-readme", action="store_true", help="write results.json only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as workdir:
        results = benchmark(Path(workdir))
    # results.json also holds the training benchmark's figures (bench_training.py): only ours change.
    stored = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    RESULTS.write_text(json.dumps({**stored, RESULTS_KEY: results}, indent=2) + "\n", encoding="utf-8")
    text = table(results)
    print(text)
    if not args.no_readme and not update_readme(text):
        print(f"README.md has no {MARKERS[0]} section: see {RESULTS}")
    targets = results["targets"]
    met = targets["identical_run_starts_no_job"] and targets["retry_never_transforms_the_champion"]
    return 0 if met and targets["identical_run_under_10_percent"] else 1


if __name__ == "__main__":
    sys.exit(main())
