"""The SageMaker TensorFlow Serving container, emulated in-process.

Two layers, ported from their sources:

* ``TfsContainer``: the container's nginx + njs front (sagemaker-tensorflow-serving-container,
  ``docker/build_artifacts/sagemaker/tensorflowServing.js``): how ``/invocations`` bodies in
  ``application/json``, ``application/jsonlines`` and ``text/csv`` become TF Serving REST
  requests, and how the ``Accept`` header shapes the answer.
* ``TfsModel``: TF Serving's REST ``:predict`` (tensorflow/serving ``util/json_tensor.cc``):
  row (``instances``) and columnar (``inputs``) requests, the ``{"predictions": ...}`` /
  ``{"outputs": ...}`` answers written the way its rapidjson PrettyWriter writes them, and
  ``{"error": ...}`` with HTTP 400 for bad input.

The SavedModel runs as TF Serving runs it: ``tf.saved_model.load(path).signatures[name]``.
Model discovery follows the container's ``tfs_utils.find_models``: the first folder holding
numeric version folders with a ``saved_model.pb``; requests without a version go to the
highest version, as TF Serving's default version policy does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from local_mode.sagemaker.jobs.s3_io import S3Uri, extract_tar
from local_mode.sagemaker.serving.tfs_json import TfsError, columnar_format, error_json, row_format

DEFAULT_SIGNATURE = "serving_default"
JSON_TYPES = ("application/json", "application/jsonlines", "application/jsons")


@dataclass(frozen=True)
class TfsResponse:
    status: int
    body: bytes
    content_type: str


# --------------------------------------------------------------------------------------------
# TF Serving: one model, its numeric versions, REST :predict
# --------------------------------------------------------------------------------------------


def find_model_versions(model_root: Path) -> tuple[str, dict[int, Path]]:
    """``tfs_utils.find_models`` + ``find_model_versions`` on an extracted model.tar.gz."""
    for pb in sorted(model_root.rglob("saved_model.pb")):
        if re.fullmatch(r"\d+", pb.parent.name):
            base = pb.parent.parent
            versions = {
                int(child.name): child
                for child in base.iterdir()
                if child.is_dir() and child.name.isdigit() and (child / "saved_model.pb").exists()
            }
            return (base.name if base != model_root else "model"), versions
    raise TfsError(500, f"no SavedModel bundles found under {model_root} (expected <version>/saved_model.pb)")


@dataclass(frozen=True)
class _Request:
    """A parsed :predict request: which signature, row or columnar, the input arrays."""

    signature: str
    row_format: bool
    inputs: dict[str, np.ndarray[Any, Any]]

    @property
    def batch_size(self) -> int:
        return next(iter(self.inputs.values())).shape[0]


class TfsModel:
    """TF Serving serving one model (every version in the archive loaded, as the container configures it)."""

    def __init__(self, model_root: Path) -> None:
        import tensorflow as tf  # deferred: importing TF costs seconds and most local runs never serve

        self._tf = tf
        self.name, paths = find_model_versions(model_root)
        self._loaded = {version: tf.saved_model.load(str(path)) for version, path in paths.items()}
        self.latest = max(self._loaded)

    def _signature(self, version: int | None, name: str) -> Any:
        loaded = self._loaded.get(self.latest if version is None else version)
        if loaded is None:
            raise TfsError(404, f"Servable not found for request: Specific({self.name}, {version})")
        signature = loaded.signatures.get(name)
        if signature is None:
            raise TfsError(400, f'Serving signature name: "{name}" not found in signature def')
        return signature

    def input_specs(self, version: int | None = None, signature: str = DEFAULT_SIGNATURE) -> dict[str, Any]:
        return dict(self._signature(version, signature).structured_input_signature[1])

    # -- request parsing (FillPredictRequestFromJson) ---------------------------------------------

    def parse(self, body: str, version: int | None) -> _Request:
        try:
            document = json.loads(body)
        except ValueError as error:
            raise TfsError(400, f"JSON Parse error: {error}") from error
        if not isinstance(document, dict):
            raise TfsError(400, f"JSON Value: {body[:200]} Is not object")
        signature_name = document.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(signature_name, str):
            raise TfsError(400, "'signature_name' key must be a string value.")
        specs = self.input_specs(version, signature_name)
        if "instances" in document and "inputs" in document:
            raise TfsError(
                400, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
            )
        if "instances" in document:
            instances = document["instances"]
            if not isinstance(instances, list):
                raise TfsError(400, "Excepting 'instances' to be an list/array")
            if not instances:
                raise TfsError(400, "No values in 'instances' array")
            return _Request(signature_name, True, self._rows_to_tensors(instances, specs))
        if "inputs" in document:
            return _Request(signature_name, False, self._columns_to_tensors(document["inputs"], specs))
        raise TfsError(400, "Missing 'inputs' or 'instances' key")

    def _rows_to_tensors(
        self, instances: list[Any], specs: dict[str, Any]
    ) -> dict[str, np.ndarray[Any, Any]]:
        def is_object(value: Any) -> bool:
            return isinstance(value, dict) and not _is_b64(value)

        if not is_object(instances[0]) and len(specs) > 1:
            raise TfsError(
                400,
                "instances is a plain list, but expecting list of objects as multiple input tensors "
                "required as per tensorinfo_map",
            )
        if is_object(instances[0]):
            for index, item in enumerate(instances):
                if not is_object(item):
                    raise TfsError(400, f"Expecting object but got list at item {index} of input list")
                if set(item) != set(specs):
                    raise TfsError(
                        400,
                        f"Failed to process element: {index} of 'instances' list. JSON object keys must be "
                        f"equal to: {','.join(sorted(specs))}",
                    )
            return {name: _to_array([item[name] for item in instances], spec) for name, spec in specs.items()}
        if any(is_object(item) for item in instances):
            index = next(i for i, item in enumerate(instances) if is_object(item))
            raise TfsError(400, f"Expecting value/list but got object at item {index} of input list")
        ((name, spec),) = specs.items()
        return {name: _to_array(instances, spec)}

    def _columns_to_tensors(self, inputs: Any, specs: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
        if not isinstance(inputs, dict) or _is_b64(inputs):
            if len(specs) > 1:
                raise TfsError(
                    400,
                    "inputs is a plain value/list, but expecting an object as multiple input tensors "
                    "required as per tensorinfo_map",
                )
            ((name, spec),) = specs.items()
            return {name: _to_array(inputs, spec)}
        missing = [name for name in specs if name not in inputs]
        if missing:
            raise TfsError(400, f"Missing named input: {missing[0]} in 'inputs' object.")
        return {name: _to_array(inputs[name], spec) for name, spec in specs.items()}

    # -- running ---------------------------------------------------------------------------------

    def run(self, request: _Request, version: int | None) -> dict[str, np.ndarray[Any, Any]]:
        signature = self._signature(version, request.signature)
        tf = self._tf
        try:
            outputs = signature(**{name: tf.constant(value) for name, value in request.inputs.items()})
        except (tf.errors.OpError, ValueError, TypeError) as error:
            message = getattr(error, "message", None) or str(error)
            raise TfsError(
                400, message.strip().splitlines()[0] if message else type(error).__name__
            ) from error
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def predict(self, body: str, version: int | None = None) -> tuple[int, str]:
        """REST ``POST /v1/models/<name>[/versions/<v>]:predict`` → (HTTP status, JSON body)."""
        return self.predict_many([body], version)[0]

    def predict_many(self, bodies: Sequence[str], version: int | None = None) -> list[tuple[int, str]]:
        """Several :predict requests, run as one batch where their shapes allow.

        Like TF Serving's server-side batching (``SAGEMAKER_TFS_ENABLE_BATCHING``) the answers
        are the ones each request gets alone; only the model runs fewer, larger batches.
        """
        results: list[tuple[int, str] | None] = [None] * len(bodies)
        groups: dict[tuple[Any, ...], list[tuple[int, _Request]]] = {}
        for index, body in enumerate(bodies):
            try:
                request = self.parse(body, version)
            except TfsError as error:
                results[index] = (error.status, error_json(error.message))
                continue
            key = (
                request.signature,
                request.row_format,
                tuple(
                    (name, array.dtype.str, array.shape[1:]) for name, array in sorted(request.inputs.items())
                ),
            )
            groups.setdefault(key, []).append((index, request))
        for members in groups.values():
            self._run_group(members, version, results)
        return [result for result in results if result is not None]

    def _run_group(
        self,
        members: list[tuple[int, _Request]],
        version: int | None,
        results: list[tuple[int, str] | None],
    ) -> None:
        first = members[0][1]
        if not first.row_format or len(members) == 1:
            for index, request in members:
                results[index] = self._answer(request, version)
            return
        merged = _Request(
            first.signature,
            True,
            {name: np.concatenate([r.inputs[name] for _, r in members]) for name in first.inputs},
        )
        try:
            outputs = self.run(merged, version)
        except TfsError:  # one bad request must not fail its neighbours: answer each alone
            for index, request in members:
                results[index] = self._answer(request, version)
            return
        offset = 0
        for index, request in members:
            size = request.batch_size
            part = {name: array[offset : offset + size] for name, array in outputs.items()}
            results[index] = (200, row_format(part))
            offset += size

    def _answer(self, request: _Request, version: int | None) -> tuple[int, str]:
        try:
            outputs = self.run(request, version)
            return 200, (row_format(outputs) if request.row_format else columnar_format(outputs))
        except TfsError as error:
            return error.status, error_json(error.message)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value: Any) -> Any:
    if _is_b64(value):
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_b64(item) for item in value]
    return value


def _to_array(value: Any, spec: Any) -> np.ndarray[Any, Any]:
    """A JSON value as the tensor of ``spec``'s dtype (``FillTensorProto``'s type rules)."""
    dtype = spec.dtype
    if dtype.is_floating or dtype.is_integer or dtype.is_bool:
        try:
            array = np.asarray(value)
        except ValueError as error:  # ragged nesting
            raise TfsError(400, f"Encountered list at unexpected size: {error}") from error
        if array.dtype == object:
            raise TfsError(400, "Encountered list at unexpected size: the JSON arrays are ragged")
        kind_ok = {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}[np.dtype(dtype.as_numpy_dtype).kind]
        if array.dtype.kind not in kind_ok:
            sample = json.dumps(array.flat[0].item() if array.size else None)
            raise TfsError(400, f"JSON Value: {sample} is not of expected type: {dtype.name}")
        return array.astype(dtype.as_numpy_dtype)
    if dtype.name == "string":
        array = np.asarray(_decode_b64(value), dtype=object)
        return array
    raise TfsError(501, f"Conversion of JSON Value to type: {dtype.name} is not supported")


# --------------------------------------------------------------------------------------------
# The SageMaker container front (tensorflowServing.js)
# --------------------------------------------------------------------------------------------


_TFS_JSON = re.compile(r'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(r"[}\]]\s*[\[{]")
_CUSTOM_ATTRIBUTE = re.compile(r"tfs-[a-z\-]+=[^,]+")
_LINE_BREAK = re.compile(r"\r?\n")


def _json_request(data: str) -> str:
    """``json_request``: TF Serving JSON passes through; JSON Lines and bare values are wrapped."""
    if _TFS_JSON.search(data):
        return data
    if _JSON_LINES.search(data):
        lines = _LINE_BREAK.split(data.strip())
        parts = ['{"instances":', "[" if len(lines) != 1 else ""]
        for index, line in enumerate(lines):
            if line.strip():
                parts.append(("" if index == 0 else ",") + line.strip())
        parts.append("}" if len(lines) == 1 else "]}")
        return "".join(parts)
    if not re.match(r"^\s*\[\s*\[", data):
        data = f"[{data}]"
    return f'{{"instances":{data}}}'


def _csv_request(data: str) -> str:
    """``csv_request``, including JavaScript's ``String.replace`` (it replaces the first match only)."""
    needs_quotes = re.search(r'^\s*("|[\d.Ee+\-]+.*)', data) is None
    lines = _LINE_BREAK.split(data.strip())
    parts = ['{"instances":[']
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        row = line
        if needs_quotes:
            row = '"' + line.replace('"', '\\"', 1).replace(",", '","', 1) + '"'
        parts.append(f"[{row}]" if "," in line else row)
        if index != len(lines) - 1:
            parts.append(",")
    parts.append("]}")
    return "".join(parts)


def parse_custom_attributes(header: str | None) -> dict[str, str]:
    attributes = {}
    for match in _CUSTOM_ATTRIBUTE.findall(header or ""):
        key, _, value = match.partition("=")
        attributes[key] = value
    return attributes


class TfsContainer:
    """``POST /invocations`` and ``GET /ping`` of the SageMaker TensorFlow Serving container."""

    def __init__(self, model: TfsModel) -> None:
        self.model = model

    def ping(self) -> int:
        return 200

    def invocations(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None = None,
        custom_attributes: str | None = None,
    ) -> TfsResponse:
        return self.invocations_many([body], content_type, accept, custom_attributes)[0]

    def invocations_many(
        self,
        bodies: Sequence[bytes],
        content_type: str | None,
        accept: str | None = None,
        custom_attributes: str | None = None,
    ) -> list[TfsResponse]:
        """Several invocations with the same headers (batch transform), served as one model batch."""
        ct = content_type or ""
        if ct in JSON_TYPES:
            convert = _json_request
        elif ct == "text/csv":
            convert = _csv_request
        else:
            message = json.dumps({"error": f"Unsupported Media Type: {ct or 'Unknown'}"})
            return [TfsResponse(415, message.encode(), "application/json")] * len(bodies)
        attributes = parse_custom_attributes(custom_attributes)
        method = attributes.get("tfs-method", "predict")
        if method != "predict":
            message = error_json(f"tfs-method {method} is not supported by the local TF Serving emulation")
            return [TfsResponse(400, message.encode(), "application/json")] * len(bodies)
        version_text = attributes.get("tfs-model-version")
        version = int(version_text) if version_text and version_text.isdigit() else None
        requests = [convert(body.decode("utf-8", "replace")) for body in bodies]
        answers = self.model.predict_many(requests, version)
        return [self._shape_reply(status, text, accept) for status, text in answers]

    @staticmethod
    def _shape_reply(status: int, text: str, accept: str | None) -> TfsResponse:
        """``tfs_json_request``'s callback: a JSON ``Accept`` gets the body on one line."""
        content_type = "application/json"
        if accept is not None:
            content_types = accept.strip().replace(" ", "", 1).split(",")
            if "application/jsonlines" in content_types or "application/json" in content_types:
                text = text.replace("\n", "")
                content_type = content_types[0]
        return TfsResponse(status, text.encode(), content_type)


# --------------------------------------------------------------------------------------------
# Models by ModelDataUrl
# --------------------------------------------------------------------------------------------


class ModelStore:
    """Downloads, extracts and loads a model.tar.gz once per (ModelDataUrl, ETag)."""

    def __init__(self, s3: Any, cache_dir: Path) -> None:
        self._s3 = s3
        self._cache_dir = cache_dir
        self._models: dict[tuple[str, str], TfsModel] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def load(self, model_data_url: str, s3: Any = None) -> TfsModel:
        """The model of an archive; ``s3``: the client to read it with (the model's role), if not ours.

        A role-bound client reads the archive even when it is cached (one byte), so that its
        role's ``s3:GetObject`` and ``kms:Decrypt`` are checked on every load, as every
        container download is on AWS.
        """
        client = s3 if s3 is not None else self._s3
        uri = S3Uri.parse(model_data_url)
        head = client.head_object(Bucket=uri.bucket, Key=uri.key)
        key = (model_data_url, str(head.get("ETag", "")))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # concurrent loads of one model wait for the first instead of loading twice
            if key not in self._models:
                folder = self._cache_dir / hashlib.sha256("|".join(key).encode()).hexdigest()[:16]
                archive = folder.with_suffix(".tar.gz")
                folder.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(uri.bucket, uri.key, str(archive))
                extract_tar(archive, folder)
                self._models[key] = TfsModel(folder)
            elif s3 is not None:
                client.get_object(Bucket=uri.bucket, Key=uri.key, Range="bytes=0-0")["Body"].read()
            return self._models[key]
