"""How the local SageMaker runs its jobs: the `JobRunner` interface and the real runner.

`LocalSageMaker` is the API: it validates each request (once), claims names, keeps the
records, runs tuning's search and the endpoints' lifecycle. What a job *does* is a runner's:

- `train(run)`: one training job (or tuning trial) run to its end, described by a `TrainingRun`
  (the one way to hand a runner a training job); returns its final DescribeTrainingJob response;
- `process(services, request)`: one processing job; its final DescribeProcessingJob;
- `transform(services, request, model_data_url, role_arn)`: one batch transform job with the
  model's archive and execution role; its final DescribeTransformJob;
- `load_model(services, model_data_url, role_arn)`: the model an endpoint serves (`TfsModel`).

Every S3 transfer goes through `services.s3_for(role)` (or `services.model_client(role)` for a
model archive), so a job acts as its execution role whichever runner runs it.

`SubprocessRunner` (the default) runs the real scripts in subprocesses (`training_job`,
`processing_job`) and the models through the TF Serving emulation (`batch_transform`,
`tfs_emulation`). Tests plug in an instant runner (tests/support/instant_sagemaker.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from local_mode.sagemaker.jobs.batch_transform import TransformJob
from local_mode.sagemaker.jobs.job_services import JobServices
from local_mode.sagemaker.jobs.processing_job import ProcessingJob
from local_mode.sagemaker.jobs.training_job import SpotInterruption, TrainingJob
from local_mode.sagemaker.serving.tfs_emulation import TfsModel

__all__ = ["JobRunner", "SubprocessRunner", "TrainingRun"]


@dataclass(frozen=True)
class TrainingRun:
    """One training job (or tuning trial) for a runner: the validated request, the services it runs
    with, the tuning job it is a trial of, and the spot interruption a test injected into it."""

    services: JobServices
    request: dict[str, Any]
    tuning_job_arn: str | None = None
    interruption: SpotInterruption | None = None


class JobRunner(Protocol):
    """What runs the jobs of a `LocalSageMaker` (see the module docstring)."""

    def train(self, run: TrainingRun) -> dict[str, Any]: ...

    def process(self, services: JobServices, request: dict[str, Any]) -> dict[str, Any]: ...

    def transform(
        self, services: JobServices, request: dict[str, Any], model_data_url: str, role_arn: str | None
    ) -> dict[str, Any]: ...

    def load_model(self, services: JobServices, model_data_url: str, role_arn: str | None) -> TfsModel: ...


class SubprocessRunner:
    """The real jobs: scripts in subprocesses, models in the TF Serving emulation."""

    def train(self, run: TrainingRun) -> dict[str, Any]:
        return TrainingJob(
            run.services, run.request, tuning_job_arn=run.tuning_job_arn, interruption=run.interruption
        ).run()

    def process(self, services: JobServices, request: dict[str, Any]) -> dict[str, Any]:
        return ProcessingJob(services, request).run()

    def transform(
        self, services: JobServices, request: dict[str, Any], model_data_url: str, role_arn: str | None
    ) -> dict[str, Any]:
        return TransformJob(services, request, model_data_url, services.models, role_arn=role_arn).run()

    def load_model(self, services: JobServices, model_data_url: str, role_arn: str | None) -> TfsModel:
        return services.models.load(model_data_url, services.model_client(role_arn))
