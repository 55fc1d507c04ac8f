"""SageMaker batch transform over the emulated TF Serving container.

The platform half of a transform job, as the Developer Guide describes it (how-it-works-batch,
batch-transform-data-processing): every object under the input prefix is split into records
(``SplitType``), filtered (``InputFilter``), sent to the container's ``/invocations`` one
record (``SingleRecord``) or a payload of up to ``MaxPayloadInMB`` records (``MultiRecord``)
at a time, joined back to its input (``JoinSource``), filtered again (``OutputFilter``) and
written to ``<S3OutputPath>/<key relative to the prefix>.out`` (``AssembleWith``).

Joins need one output record per input record. For ``MultiRecord`` the container's answer
is split into lines; the TF Serving container answers a whole payload with one
``{"predictions": [...]}`` line, so a ``MultiRecord`` join of more than one record fails
here with the record-count mismatch it causes (single-record payloads work).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from local_mode.sagemaker.jobs.job_services import JobError, JobServices
from local_mode.sagemaker.jobs.s3_io import (
    S3_ERRORS,
    S3Object,
    S3TransferError,
    S3Uri,
    list_objects,
    relative_key,
)
from local_mode.sagemaker.jobs.transform_jsonpath import JsonPath, JsonPathApplyError, JsonPathError
from local_mode.sagemaker.serving.tfs_emulation import JSON_TYPES, ModelStore, TfsContainer, TfsResponse
from local_mode.sagemaker.shapes import SageMakerApiError, drop_none, echo_request, failure_reason, utcnow

DEFAULT_MAX_PAYLOAD_MB = 6
INVOCATIONS_PER_BATCH = 256  # requests handed to the container at once (its model runs them as one batch)
SUPPORTED_CONTENT_TYPES = (*JSON_TYPES, "text/csv")


@dataclass(frozen=True)
class DataProcessing:
    input_filter: JsonPath
    output_filter: JsonPath
    join_input: bool

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> DataProcessing:
        """Parse the filters (a ValidationException at create time, as the API answers)."""
        config = request.get("DataProcessing", {})
        try:
            return cls(
                JsonPath.parse(config.get("InputFilter") or "$"),
                JsonPath.parse(config.get("OutputFilter") or "$"),
                config.get("JoinSource", "None") == "Input",
            )
        except JsonPathError as error:
            raise SageMakerApiError("ValidationException", str(error)) from error


@dataclass
class _Record:
    original: Any  # the parsed input record (what a join puts back)
    body: str  # what goes to the container after InputFilter


class _Codec:
    """Parse and write records of one content type (JSON values, or CSV rows as JSON arrays)."""

    def __init__(self, content_type: str) -> None:
        self.csv = content_type == "text/csv"

    def parse(self, text: str) -> Any:
        if self.csv:
            return next(csv.reader([text]), [])
        return json.loads(text)

    def dump(self, value: Any) -> str:
        if self.csv:
            row = value if isinstance(value, list) else [value]
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="").writerow(row)
            return buffer.getvalue()
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class TransformJob:
    """One CreateTransformJob request, run to its end (``.sync`` semantics)."""

    def __init__(
        self,
        services: JobServices,
        request: dict[str, Any],
        model_data_url: str,
        models: ModelStore,
        *,
        role_arn: str | None = None,
    ) -> None:
        self.services = services
        self.request = request
        self.role_arn = role_arn  # the model's ExecutionRoleArn: every transfer acts as it
        self.s3 = services.s3_for(role_arn)
        self.name: str = request["TransformJobName"]
        self.arn = services.arns("transform-job", self.name)
        self.model_data_url = model_data_url
        self.models = models
        self.processing = DataProcessing.from_request(request)
        transform_input = request["TransformInput"]
        self.source = transform_input["DataSource"]["S3DataSource"]
        self.content_type: str = transform_input.get("ContentType", "application/json")
        self.split_lines = transform_input.get("SplitType", "None") == "Line"
        self.gzip = transform_input.get("CompressionType", "None") == "Gzip"
        output = request["TransformOutput"]
        self.output_uri = S3Uri.parse(output["S3OutputPath"])
        self.accept: str | None = output.get("Accept")
        self.assemble_lines = output.get("AssembleWith", "None") == "Line"
        self.multi_record = request.get("BatchStrategy", "SingleRecord") == "MultiRecord"
        self.max_payload = int(request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)) * 1024 * 1024
        self.input_codec = _Codec(self.content_type)
        self.output_codec = _Codec(self.accept or "application/json")
        self.log = services.log_sink(self.name, "algo-1", ["algo-1"])

    @staticmethod
    def validate(request: dict[str, Any]) -> None:
        """What CreateTransformJob rejects up front."""
        DataProcessing.from_request(request)
        content_type = request["TransformInput"].get("ContentType")
        if content_type is not None and content_type not in SUPPORTED_CONTENT_TYPES:
            raise SageMakerApiError(
                "ValidationException",
                f"ContentType {content_type} is not supported by the local TF Serving container emulation "
                f"(supported: {', '.join(SUPPORTED_CONTENT_TYPES)})",
            )

    def run(self) -> dict[str, Any]:
        created = utcnow()
        status, failure = "Completed", None
        try:
            container = self._container()
            for obj in self._objects():
                self._transform_object(container, obj)
        except JobError as error:
            status, failure = "Failed", str(error)
            self.log(f"Transform job failed: {failure}")
        except (S3TransferError, *S3_ERRORS) as error:  # e.g. the model's role may not read or write
            status, failure = "Failed", failure_reason(f"ClientError: {error}")
            self.log(f"Transform job failed: {failure}")
        end = utcnow()
        return drop_none(
            {
                **echo_request("DescribeTransformJob", self.request),
                "TransformJobArn": self.arn,
                "TransformJobStatus": status,
                "FailureReason": failure,
                "CreationTime": created,
                "TransformStartTime": created,
                "TransformEndTime": end,
            }
        )

    def _container(self) -> TfsContainer:
        try:
            return TfsContainer(self.models.load(self.model_data_url, self.s3 if self.role_arn else None))
        except Exception as error:  # the container failing to start fails the job
            raise JobError(
                f"ClientError: the model {self.model_data_url} could not be loaded: {error}"
            ) from error

    def _objects(self) -> list[S3Object]:
        if self.source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise JobError(
                f"ClientError: S3DataType {self.source.get('S3DataType')} is not supported locally"
            )
        objects = list_objects(self.s3, S3Uri.parse(self.source["S3Uri"]))
        if not objects:
            raise JobError(f'ClientError: No S3 objects found under S3 URL "{self.source["S3Uri"]}"')
        return objects

    # -- one object ------------------------------------------------------------------------------

    def _transform_object(self, container: TfsContainer, obj: S3Object) -> None:
        uri = S3Uri.parse(self.source["S3Uri"])
        data = self.s3.get_object(Bucket=uri.bucket, Key=obj.key)["Body"].read()
        if self.gzip:
            data = gzip.decompress(data)
        records = [
            self._record(obj, number, text) for number, text in enumerate(self._split(data.decode()), 1)
        ]
        self.log(f"Transforming s3://{uri.bucket}/{obj.key}: {len(records)} records")
        outputs: list[str] = []
        for payload in self._chunks(self._payloads(obj, records)):
            responses = container.invocations_many(
                [body.encode() for _, body in payload], self.content_type, self.accept
            )
            for (members, _), response in zip(payload, responses, strict=True):
                outputs.extend(self._outputs(obj, members, response))
        separator = "\n" if self.assemble_lines else ""
        body = "".join(output + separator for output in outputs)
        target = self.output_uri.join(relative_key(uri.key, obj.key) + ".out")
        self.s3.put_object(Bucket=target.bucket, Key=target.key, Body=body.encode())
        self.log(f"Wrote {target} ({len(outputs)} records)")

    def _split(self, text: str) -> list[str]:
        if not self.split_lines:
            return [text]
        return [line for line in text.splitlines() if line.strip()]

    def _record(self, obj: S3Object, number: int, text: str) -> _Record:
        needs_parse = self.processing.join_input or not self.processing.input_filter.is_root
        if not needs_parse:
            return _Record(None, text)
        try:
            original = self.input_codec.parse(text)
            filtered = self.processing.input_filter.apply(original)
        except (ValueError, JsonPathApplyError) as error:
            raise JobError(f"ClientError: {obj.key}, record {number}: InputFilter failed: {error}") from error
        body = text if self.processing.input_filter.is_root else self.input_codec.dump(filtered)
        return _Record(original, body)

    def _payloads(self, obj: S3Object, records: list[_Record]) -> Iterator[tuple[list[_Record], str]]:
        """Requests to the container: one record each, or as many as fit in MaxPayloadInMB."""
        batch: list[_Record] = []
        size = 0
        for record in records:
            record_size = len(record.body.encode()) + 1
            if self.max_payload and record_size > self.max_payload:
                raise JobError(
                    f"ClientError: a record of {obj.key} is larger than MaxPayloadInMB "
                    f"({self.max_payload // (1024 * 1024)} MB)"
                )
            if batch and (
                not self.multi_record or (self.max_payload and size + record_size > self.max_payload)
            ):
                yield batch, "\n".join(r.body for r in batch)
                batch, size = [], 0
            batch.append(record)
            size += record_size
        if batch:
            yield batch, "\n".join(r.body for r in batch)

    @staticmethod
    def _chunks(
        payloads: Iterator[tuple[list[_Record], str]],
    ) -> Iterator[list[tuple[list[_Record], str]]]:
        chunk: list[tuple[list[_Record], str]] = []
        for payload in payloads:
            chunk.append(payload)
            if len(chunk) == INVOCATIONS_PER_BATCH:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _outputs(self, obj: S3Object, members: list[_Record], response: TfsResponse) -> list[str]:
        text = response.body.decode("utf-8", "replace")
        if response.status != 200:
            raise JobError(
                f"ClientError: the model container answered {response.status} for a request from "
                f"{obj.key}: {text[:500]}"
            )
        if not self.processing.join_input and self.processing.output_filter.is_root:
            return [text]
        results = [line for line in text.splitlines() if line.strip()] if self.multi_record else [text]
        if len(results) != len(members):
            raise JobError(
                f"ClientError: {obj.key}: the inference output has {len(results)} records for "
                f"{len(members)} input records, so they cannot be joined"
            )
        return [
            self._join_and_filter(obj, record, result)
            for record, result in zip(members, results, strict=True)
        ]

    def _join_and_filter(self, obj: S3Object, record: _Record, result: str) -> str:
        try:
            output = self._parse_output(result)
        except ValueError as error:
            raise JobError(f"ClientError: Failed to parse output from the algorithm: {error}") from error
        if self.processing.join_input:
            if self.input_codec.csv:
                joined: Any = [*record.original, *(output if isinstance(output, list) else [output])]
            elif isinstance(record.original, dict):
                joined = {**record.original, "SageMakerOutput": output}
            else:
                joined = {"SageMakerInput": record.original, "SageMakerOutput": output}
        else:
            joined = output
        try:
            filtered = self.processing.output_filter.apply(joined)
        except JsonPathApplyError as error:
            raise JobError(f"ClientError: {obj.key}: OutputFilter failed: {error}") from error
        return (self.input_codec if self.processing.join_input else self.output_codec).dump(filtered)

    def _parse_output(self, text: str) -> Any:
        if not self.output_codec.csv:
            return json.loads(text)
        row = next(csv.reader([text.strip()]), [])
        if any('"' in field for field in row):
            raise ValueError('bare " in non quoted field (the model did not answer in CSV)')
        return row
