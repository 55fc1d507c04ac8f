"""Resolve a CDK-synthesized CloudFormation template to the resources local mode creates.

`CfnTemplate` reads `cdk.out/<Stack>.template.json` (and the stack's asset manifest), gives every
resource the physical name CloudFormation would give it (deterministically: the random suffix is a
hash of the stack and logical id) and resolves intrinsic functions against those names, so the
state machine definitions, policies and outputs name exactly what `LocalCloud` creates.

Supported: `Ref` (resources, parameters, pseudo parameters), `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`
(both forms), `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::If` with `Conditions`
(`Fn::Equals`/`Fn::Not`/`Fn::And`/`Fn::Or`/`Condition`), `Fn::Base64`, `Fn::GetAZs`,
`Fn::Length`, `Fn::ToJsonString`, `AWS::NoValue`. Anything else raises `TemplateError` naming the
resource and the path inside the template.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT_ID: Final = "123456789012"


class TemplateError(Exception):
    """The template uses something local mode cannot resolve; the message names where."""


@dataclass(frozen=True)
class CloudEnv:
    """Where the stack is "deployed": the values of the pseudo parameters."""

    stack_name: str
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_id(self) -> str:
        digest = hashlib.sha1(self.stack_name.encode()).hexdigest()
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        )


@dataclass(frozen=True)
class FileAsset:
    """One file asset of the stack: what cdk-assets would publish, and where to."""

    asset_hash: str
    source: Path  # absolute: a file, or a directory that CDK zips at publish time
    packaging: str  # "file" or "zip"
    bucket_name: str
    object_key: str

    @property
    def is_directory(self) -> bool:
        return self.source.is_dir()


@dataclass(frozen=True)
class PhysicalResource:
    """What `Ref` and `Fn::GetAtt` give for one resource."""

    logical_id: str
    type: str
    name: str
    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class _NoValue:
    """`Ref: AWS::NoValue`: the enclosing key or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()

# --- physical names -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    name_property: str | None
    max_length: int
    ref: str  # which of name/arn/url/id `Ref` returns
    arn: Callable[[str, CloudEnv, Mapping[str, Any]], str] | None = None
    lowercase: bool = False
    with_stack_prefix: bool = True
    uuid_name: bool = False  # the physical id is a generated UUID (KMS keys)
    extra: Callable[[str, str, CloudEnv], dict[str, str]] | None = None


def _arn(service: str, resource: str, env: CloudEnv, *, region: bool = True, account: bool = True) -> str:
    return (
        f"arn:{env.partition}:{service}:{env.region if region else ''}:"
        f"{env.account_id if account else ''}:{resource}"
    )


def _iam_path(props: Mapping[str, Any]) -> str:
    path = props.get("Path")
    return path if isinstance(path, str) and path else "/"


# Global tables and plain tables have the same name, ARN and attributes.
_DYNAMODB_TABLE: Final = _Kind(
    "TableName",
    255,
    "name",
    lambda n, e, p: _arn("dynamodb", f"table/{n}", e),
    extra=lambda n, arn, e: {"StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"},
)

_KINDS: Final[dict[str, _Kind]] = {
    "AWS::S3::Bucket": _Kind(
        "BucketName",
        63,
        "name",
        lambda n, e, p: f"arn:{e.partition}:s3:::{n}",
        lowercase=True,
        extra=lambda n, _arn_, e: {
            "DomainName": f"{n}.s3.{e.url_suffix}",
            "RegionalDomainName": f"{n}.s3.{e.region}.{e.url_suffix}",
            "DualStackDomainName": f"{n}.s3.dualstack.{e.region}.{e.url_suffix}",
            "WebsiteURL": f"http://{n}.s3-website-{e.region}.{e.url_suffix}",
        },
    ),
    "AWS::DynamoDB::Table": _DYNAMODB_TABLE,
    "AWS::DynamoDB::GlobalTable": _DYNAMODB_TABLE,
    "AWS::SNS::Topic": _Kind(
        "TopicName",
        256,
        "arn",
        lambda n, e, p: _arn("sns", n, e),
        extra=lambda n, arn, e: {"TopicArn": arn, "TopicName": n},
    ),
    "AWS::SQS::Queue": _Kind(
        "QueueName",
        80,
        "url",
        lambda n, e, p: _arn("sqs", n, e),
        extra=lambda n, arn, e: {
            "QueueName": n,
            "QueueUrl": f"https://sqs.{e.region}.{e.url_suffix}/{e.account_id}/{n}",
        },
    ),
    "AWS::IAM::Role": _Kind(
        "RoleName",
        64,
        "name",
        lambda n, e, p: _arn("iam", f"role{_iam_path(p)}{n}", e, region=False),
        extra=lambda n, arn, e: {"RoleId": "AROA" + hashlib.sha1(arn.encode()).hexdigest()[:17].upper()},
    ),
    "AWS::IAM::ManagedPolicy": _Kind(
        "ManagedPolicyName",
        128,
        "arn",
        lambda n, e, p: _arn("iam", f"policy{_iam_path(p)}{n}", e, region=False),
        extra=lambda n, arn, e: {"PolicyArn": arn},
    ),
    "AWS::IAM::Policy": _Kind("PolicyName", 128, "name"),
    "AWS::Lambda::Function": _Kind(
        "FunctionName", 64, "name", lambda n, e, p: _arn("lambda", f"function:{n}", e)
    ),
    "AWS::StepFunctions::StateMachine": _Kind(
        "StateMachineName",
        80,
        "arn",
        lambda n, e, p: _arn("states", f"stateMachine:{n}", e),
        with_stack_prefix=False,
        extra=lambda n, arn, e: {"Name": n, "StateMachineRevisionId": arn},
    ),
    "AWS::Logs::LogGroup": _Kind(
        "LogGroupName", 512, "name", lambda n, e, p: _arn("logs", f"log-group:{n}:*", e)
    ),
    "AWS::Events::Rule": _Kind("Name", 64, "name", lambda n, e, p: _arn("events", f"rule/{n}", e)),
    "AWS::SSM::Parameter": _Kind(
        "Name", 1011, "name", extra=lambda n, arn, e: {"Type": "String", "Value": ""}
    ),
    "AWS::KMS::Key": _Kind(
        None,
        36,
        "name",
        lambda n, e, p: _arn("kms", f"key/{n}", e),
        uuid_name=True,
        extra=lambda n, arn, e: {"KeyId": n},
    ),
}


def _suffix(stack_name: str, logical_id: str) -> str:
    """CloudFormation's random suffix, made deterministic: 12 upper-case alphanumerics."""
    digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()
    return base64.b32encode(digest).decode()[:12]


def generated_name(
    stack_name: str, logical_id: str, *, max_length: int, lowercase: bool, with_stack: bool
) -> str:
    """The name CloudFormation generates for a resource without an explicit name."""
    suffix = _suffix(stack_name, logical_id)
    prefix = f"{stack_name}-{logical_id}" if with_stack else logical_id
    name = f"{prefix[: max(1, max_length - len(suffix) - 1)]}-{suffix}"
    return name.lower() if lowercase else name


# --- the template ---------------------------------------------------------------------------

_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
_PSEUDO: Final = (
    "AWS::Region",
    "AWS::AccountId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
)


class CfnTemplate:
    """A synthesized template whose intrinsic functions resolve to the local resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        env: CloudEnv,
        *,
        parameters: Mapping[str, Any] | None = None,
        assets: tuple[FileAsset, ...] = (),
        cdk_out: Path | None = None,
    ) -> None:
        self.template = template
        self.env = env
        self.cdk_out = cdk_out
        self.assets = assets
        self.construct_paths: dict[str, str] = {}  # logical id → construct path (from cdk.out metadata)
        self._parameter_values = dict(parameters or {})
        self._physical: dict[str, PhysicalResource] = {}
        self._naming: set[str] = set()  # resources whose name is being resolved (cycle guard)
        self._conditions: dict[str, bool] = {}

    # -- loading --

    @classmethod
    def from_cdk_out(
        cls,
        cdk_out: Path | str,
        stack: str,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        parameters: Mapping[str, Any] | None = None,
    ) -> CfnTemplate:
        """Load stack `stack` (artifact id or stack name) from a cloud assembly directory."""
        out = Path(cdk_out).resolve()
        template_file, assets_file, stack_name = _locate_stack(out, stack)
        template = json.loads(template_file.read_text())
        env = CloudEnv(stack_name=stack_name, region=region, account_id=account_id)
        resolver = cls(template, env, parameters=parameters, cdk_out=out)
        if assets_file is not None and assets_file.exists():
            resolver.assets = tuple(_read_assets(out, json.loads(assets_file.read_text()), resolver))
        metadata_file = template_file.with_name(
            template_file.name.replace(".template.json", ".metadata.json")
        )
        if metadata_file.exists():
            resolver.construct_paths = _construct_paths(json.loads(metadata_file.read_text()))
        return resolver

    # -- resources --

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        return self.template.get("Resources", {})

    def resources_of_type(self, resource_type: str) -> list[str]:
        """Logical ids of the enabled resources of one type, in template order."""
        return [
            logical_id
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type and self.is_enabled(logical_id)
        ]

    def is_enabled(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return True if condition is None else self.condition(condition)

    def physical(self, logical_id: str) -> PhysicalResource:
        """The local identity of a resource (name, what `Ref` gives, its attributes)."""
        if logical_id not in self._physical:
            self._physical[logical_id] = self._make_physical(logical_id)
        return self._physical[logical_id]

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's Properties with every intrinsic function resolved."""
        raw = self.resources[logical_id].get("Properties", {})
        resolved = self.resolve(raw, f"Resources.{logical_id}.Properties")
        return resolved if isinstance(resolved, dict) else {}

    def property(self, logical_id: str, name: str, default: Any = None) -> Any:
        raw = self.resources[logical_id].get("Properties", {})
        if name not in raw:
            return default
        value = self.resolve(raw[name], f"Resources.{logical_id}.Properties.{name}")
        return default if value is NO_VALUE else value

    def construct_names(self, logical_id: str) -> tuple[str, ...]:
        """The CDK construct path ("Stack/Flow/Resource" → "Stack/Flow") and id ("Flow"), if known."""
        path = self.resources[logical_id].get("Metadata", {}).get("aws:cdk:path")
        path = path if isinstance(path, str) else self.construct_paths.get(logical_id)
        if path is None:
            return ()
        path = path.strip("/").removesuffix("/Resource")
        return path, path.rsplit("/", 1)[-1]

    def outputs(self) -> dict[str, Any]:
        """Every Output's resolved value (outputs whose Condition is false are left out)."""
        result: dict[str, Any] = {}
        for name, output in self.template.get("Outputs", {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            result[name] = self.resolve(output.get("Value"), f"Outputs.{name}.Value")
        return result

    def asset_for(self, bucket: str, key: str) -> FileAsset | None:
        return next((a for a in self.assets if a.bucket_name == bucket and a.object_key == key), None)

    def _make_physical(self, logical_id: str) -> PhysicalResource:
        if logical_id not in self.resources:
            raise TemplateError(f"no resource '{logical_id}' in stack {self.env.stack_name}")
        resource_type = self.resources[logical_id].get("Type", "")
        kind = _KINDS.get(resource_type)
        if logical_id in self._naming:
            raise TemplateError(f"Resources.{logical_id}: its name depends on itself")
        self._naming.add(logical_id)
        try:
            name = self._name_of(logical_id, kind)
            raw_props = self.resources[logical_id].get("Properties", {})
            props = (
                {"Path": self.resolve(raw_props["Path"], f"Resources.{logical_id}.Properties.Path")}
                if "Path" in raw_props
                else {}
            )
        finally:
            self._naming.discard(logical_id)
        if kind is None:
            return PhysicalResource(logical_id, resource_type, name, name)
        arn = kind.arn(name, self.env, props) if kind.arn else ""
        attributes = {"Arn": arn} if arn else {}
        if kind.extra:
            attributes.update(kind.extra(name, arn, self.env))
        ref = {"name": name, "arn": arn, "url": attributes.get("QueueUrl", name)}[kind.ref]
        return PhysicalResource(logical_id, resource_type, name, ref, attributes)

    def _name_of(self, logical_id: str, kind: _Kind | None) -> str:
        if kind is not None and kind.name_property:
            explicit = self.property(logical_id, kind.name_property)
            if isinstance(explicit, str) and explicit:
                return explicit
        if kind is not None and kind.uuid_name:
            digest = hashlib.sha1(f"{self.env.stack_name}/{logical_id}".encode()).hexdigest()
            return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        return generated_name(
            self.env.stack_name,
            logical_id,
            max_length=kind.max_length if kind else 128,
            lowercase=kind.lowercase if kind else False,
            with_stack=kind.with_stack_prefix if kind else True,
        )

    # -- conditions --

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {})
            if name not in conditions:
                raise TemplateError(f"Conditions.{name}: no such condition")
            self._conditions[name] = self._truth(conditions[name], f"Conditions.{name}")
        return self._conditions[name]

    def _truth(self, expression: Any, path: str) -> bool:
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, str):
            return expression.lower() == "true"
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, args),) = expression.items()
            if function == "Condition":
                return self.condition(args)
            if function == "Fn::Equals":
                left, right = (self.resolve(arg, f"{path}.Fn::Equals[{i}]") for i, arg in enumerate(args))
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._truth(args[0], f"{path}.Fn::Not[0]")
            if function == "Fn::And":
                return all(self._truth(arg, f"{path}.Fn::And[{i}]") for i, arg in enumerate(args))
            if function == "Fn::Or":
                return any(self._truth(arg, f"{path}.Fn::Or[{i}]") for i, arg in enumerate(args))
        return bool(self.resolve(expression, path))

    # -- intrinsic functions --

    def resolve(self, value: Any, path: str = "") -> Any:
        """Resolve every intrinsic function inside `value`; `path` names where it is, for errors."""
        if isinstance(value, list):
            items = (self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, args, f"{path}.{key}")
        resolved = {k: self.resolve(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _intrinsic(self, function: str, args: Any, path: str) -> Any:
        handler = _INTRINSICS.get(function)
        if handler is None:
            raise TemplateError(
                f"{_where(path)}: intrinsic function {function} is not supported by local mode"
            )
        try:
            return handler(self, args, path)
        except TemplateError:
            raise
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise TemplateError(
                f"{_where(path)}: cannot resolve {function} {json.dumps(args)[:200]}: {exc}"
            ) from exc

    def ref(self, name: str, path: str = "Ref") -> Any:
        if name in _PSEUDO:
            return self._pseudo(name)
        if name in self.template.get("Parameters", {}):
            return self._parameter(name)
        if name in self.resources:
            return self.physical(name).ref
        raise TemplateError(f"{_where(path)}: Ref to unknown name '{name}'")

    def get_att(self, logical_id: str, attribute: str, path: str = "Fn::GetAtt") -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"{_where(path)}: Fn::GetAtt of unknown resource '{logical_id}'")
        physical = self.physical(logical_id)
        if attribute not in physical.attributes:
            raise TemplateError(
                f"{_where(path)}: Fn::GetAtt {logical_id}.{attribute}: local mode does not know attribute "
                f"'{attribute}' of {physical.type} (known: {sorted(physical.attributes) or 'none'})"
            )
        return physical.attributes[attribute]

    def substitute(self, text: str, variables: Mapping[str, Any], path: str) -> str:
        """`Fn::Sub` of one string: `${Name}`, `${Resource.Attr}`, `${!Literal}`."""

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute, path)
            return str(self.ref(name, path))

        return _SUB_VARIABLE.sub(replace, text)

    def _pseudo(self, name: str) -> Any:
        env = self.env
        return {
            "AWS::Region": env.region,
            "AWS::AccountId": env.account_id,
            "AWS::Partition": env.partition,
            "AWS::URLSuffix": env.url_suffix,
            "AWS::StackName": env.stack_name,
            "AWS::StackId": env.stack_id,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }[name]

    def _parameter(self, name: str) -> Any:
        if name in self._parameter_values:
            return self._parameter_values[name]
        declaration = self.template["Parameters"][name]
        if "Default" not in declaration:
            raise TemplateError(f"Parameters.{name}: no Default and no value given to local mode")
        return declaration["Default"]

    def walk(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(logical id, resource) for each enabled resource."""
        for logical_id, resource in self.resources.items():
            if self.is_enabled(logical_id):
                yield logical_id, resource


def _where(path: str) -> str:
    """'Resources.X.Properties.Y...' → "resource X, at Resources.X.Properties.Y..."."""
    parts = path.split(".")
    if len(parts) > 1 and parts[0] == "Resources":
        return f"resource {parts[1]} (at {path})"
    return f"at {path}"


# --- one function per intrinsic -------------------------------------------------------------


def _fn_ref(t: CfnTemplate, args: Any, path: str) -> Any:
    return t.ref(args, path)


def _fn_get_att(t: CfnTemplate, args: Any, path: str) -> Any:
    if isinstance(args, str):
        logical_id, attribute = args.split(".", 1)
    else:
        logical_id, attribute = args[0], t.resolve(args[1], f"{path}[1]")
    return t.get_att(logical_id, attribute, path)


def _fn_join(t: CfnTemplate, args: Any, path: str) -> str:
    delimiter, items = args
    values = t.resolve(items, f"{path}[1]")
    return str(delimiter).join(_scalar(v) for v in values)


def _fn_sub(t: CfnTemplate, args: Any, path: str) -> str:
    if isinstance(args, str):
        return t.substitute(args, {}, path)
    text, variables = args
    resolved = {k: t.resolve(v, f"{path}[1].{k}") for k, v in variables.items()}
    return t.substitute(text, resolved, path)


def _fn_select(t: CfnTemplate, args: Any, path: str) -> Any:
    index = int(t.resolve(args[0], f"{path}[0]"))
    items = t.resolve(args[1], f"{path}[1]")
    return items[index]


def _fn_split(t: CfnTemplate, args: Any, path: str) -> list[str]:
    delimiter, source = args
    return str(t.resolve(source, f"{path}[1]")).split(delimiter)


def _fn_find_in_map(t: CfnTemplate, args: Any, path: str) -> Any:
    names = [t.resolve(a, f"{path}[{i}]") for i, a in enumerate(args[:3])]
    mapping = t.template.get("Mappings", {})
    try:
        return mapping[names[0]][names[1]][names[2]]
    except KeyError:
        if len(args) > 3 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
            return t.resolve(args[3]["DefaultValue"], f"{path}[3]")
        raise TemplateError(f"{_where(path)}: Fn::FindInMap {names}: no such entry in Mappings") from None


def _fn_if(t: CfnTemplate, args: Any, path: str) -> Any:
    condition, when_true, when_false = args
    chosen, index = (when_true, 1) if t.condition(condition) else (when_false, 2)
    return t.resolve(chosen, f"{path}[{index}]")


def _fn_equals_value(t: CfnTemplate, args: Any, path: str) -> bool:
    return t._truth({"Fn::Equals": args}, path)


def _fn_base64(t: CfnTemplate, args: Any, path: str) -> str:
    return base64.b64encode(str(t.resolve(args, path)).encode()).decode()


def _fn_get_azs(t: CfnTemplate, args: Any, path: str) -> list[str]:
    region = t.resolve(args, path) or t.env.region
    return [f"{region}{zone}" for zone in "abc"]


def _fn_length(t: CfnTemplate, args: Any, path: str) -> int:
    return len(t.resolve(args, path))


def _fn_to_json_string(t: CfnTemplate, args: Any, path: str) -> str:
    return json.dumps(t.resolve(args, path), separators=(",", ":"))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(f"Fn::Join needs strings, got {type(value).__name__}")


_INTRINSICS: Final[dict[str, Callable[[CfnTemplate, Any, str], Any]]] = {
    "Ref": _fn_ref,
    "Fn::GetAtt": _fn_get_att,
    "Fn::Join": _fn_join,
    "Fn::Sub": _fn_sub,
    "Fn::Select": _fn_select,
    "Fn::Split": _fn_split,
    "Fn::FindInMap": _fn_find_in_map,
    "Fn::If": _fn_if,
    "Fn::Equals": _fn_equals_value,
    "Fn::Base64": _fn_base64,
    "Fn::GetAZs": _fn_get_azs,
    "Fn::Length": _fn_length,
    "Fn::ToJsonString": _fn_to_json_string,
}

# --- the cloud assembly ---------------------------------------------------------------------


def _locate_stack(out: Path, stack: str) -> tuple[Path, Path | None, str]:
    """(template file, asset manifest file, stack name) for a stack in a cloud assembly."""
    manifest_file = out / "manifest.json"
    if manifest_file.exists():
        artifacts = json.loads(manifest_file.read_text()).get("artifacts", {})
        for artifact_id, artifact in artifacts.items():
            properties = artifact.get("properties", {})
            stack_name = properties.get("stackName", artifact_id)
            if artifact.get("type") == "aws:cloudformation:stack" and stack in (artifact_id, stack_name):
                assets = next(
                    (
                        out / artifacts[dep]["properties"]["file"]
                        for dep in artifact.get("dependencies", [])
                        if artifacts.get(dep, {}).get("type") == "cdk:asset-manifest"
                    ),
                    None,
                )
                return out / properties["templateFile"], assets, stack_name
    template_file = out / f"{stack}.template.json"
    if not template_file.exists():
        raise TemplateError(f"no stack '{stack}' in {out} (run `cdk synth` first)")
    return template_file, out / f"{stack}.assets.json", stack


def _construct_paths(metadata: Mapping[str, Any]) -> dict[str, str]:
    """logical id → construct path, from `<Stack>.metadata.json` (`aws:cdk:logicalId` entries)."""
    return {
        entry["data"]: path
        for path, entries in metadata.items()
        for entry in entries
        if isinstance(entry, dict) and entry.get("type") == "aws:cdk:logicalId"
    }


def _read_assets(out: Path, manifest: Mapping[str, Any], template: CfnTemplate) -> Iterator[FileAsset]:
    """File assets; bucket and key use the same `${AWS::...}` placeholders as `Fn::Sub`."""
    for asset_hash, entry in manifest.get("files", {}).items():
        source = entry.get("source", {})
        if "path" not in source:
            continue  # an executable-produced asset: nothing local mode can stage
        for destination in list(entry.get("destinations", {}).values())[:1]:
            path = f"Assets.{asset_hash}"
            yield FileAsset(
                asset_hash=asset_hash,
                source=out / source["path"],
                packaging=source.get("packaging", "file"),
                bucket_name=template.substitute(destination["bucketName"], {}, path),
                object_key=template.substitute(destination["objectKey"], {}, path),
            )
