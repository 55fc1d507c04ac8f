"""Every IAM policy of the synthesized template, with its tokens rendered as realistic ARNs.

Used by the IAM linter test (tests/infra/test_iam_linter.py) and for the README's
least-privilege table: `python -m stacks.iam_report` rewrites the table between the
`<!-- iam:start -->` and `<!-- iam:end -->` markers from a fresh synth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARTITION = "aws"
REGION = "us-east-1"
ACCOUNT = "123456789012"
README = Path(__file__).resolve().parents[1] / "README.md"
_PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "TfModelLifecycle",
}
_HASH = re.compile(r"[0-9A-F]{8}$")


def _name(logical_id: str) -> str:
    """A resource's physical name, much as CloudFormation generates it (stack name, logical id)."""
    return f"tfmodellifecycle-{readable(logical_id).lower()}"


def _arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


class Renderer:
    """Renders Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split and Fn::FindInMap of one template."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = template["Resources"]
        self.mappings: dict[str, Any] = template.get("Mappings", {})

    def _type(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Type"])

    def ref(self, logical_id: str) -> str:
        if logical_id in _PSEUDO:
            return _PSEUDO[logical_id]
        kind = self._type(logical_id)
        if kind == "AWS::SNS::Topic":
            return _arn("sns", _name(logical_id))
        if kind == "AWS::StepFunctions::StateMachine":
            return _arn("states", f"stateMachine:{_name(logical_id)}")
        if kind == "AWS::KMS::Key":
            return "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        return _name(logical_id)  # buckets, tables, roles, functions, log groups: their names

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind, name = self._type(logical_id), self.ref(logical_id)
        if attribute != "Arn":
            raise ValueError(f"no rendering for {logical_id}.{attribute}")
        arns = {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::KMS::Key": _arn("kms", f"key/{name}"),
            "AWS::IAM::Role": _arn("iam", f"role/{name}", region=""),
            "AWS::Lambda::Function": _arn("lambda", f"function:{name}"),
            "AWS::DynamoDB::Table": _arn("dynamodb", f"table/{name}"),
            "AWS::Logs::LogGroup": _arn("logs", f"log-group:{name}:*"),
            "AWS::CloudWatch::Alarm": _arn("cloudwatch", f"alarm:{name}"),
            "AWS::SNS::Topic": name,
            "AWS::StepFunctions::StateMachine": name,
        }
        if kind not in arns:
            raise ValueError(f"no ARN rendering for {kind} ({logical_id})")
        return arns[kind]

    def render(self, value: Any) -> Any:
        """The value with every intrinsic function replaced by the string it would resolve to."""
        if isinstance(value, list):
            return [self.render(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.render(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            return self.get_att(*argument)
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(str(self.render(part)) for part in parts)
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return re.sub(r"\$\{([^}]+)\}", lambda match: self._sub(match.group(1)), text)
        if function == "Fn::Select":
            index, items = argument
            return self.render(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.render(text)).split(separator)
        if function == "Fn::FindInMap":
            mapping, first, second = (self.render(part) for part in argument)
            return self.mappings[mapping][first][second]
        return {function: self.render(argument)}

    def _sub(self, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute)
        return self.ref(name)


@dataclass(frozen=True)
class Policy:
    """One policy document of the template, rendered."""

    kind: str  # "identity", "trust" or "resource"
    logical_id: str  # the resource that holds it (a policy, role, bucket policy, topic policy, key)
    owner: str  # the role the identity or trust policy belongs to, or the resource a resource policy guards
    document: dict[str, Any]


def readable(logical_id: str) -> str:
    """A logical id without CDK's hash suffix: `SageMakerRole574B07EB` → `SageMakerRole`."""
    return _HASH.sub("", logical_id)


def policies(template: dict[str, Any]) -> Iterator[Policy]:
    """Every identity, trust and resource policy of the template, its tokens rendered."""
    renderer = Renderer(template)
    for logical_id, resource in template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Policy":
            for role in properties.get("Roles", []):
                yield Policy("identity", logical_id, role["Ref"], renderer.render(properties["PolicyDocument"]))
        elif kind == "AWS::IAM::Role":
            yield Policy("trust", logical_id, logical_id, renderer.render(properties["AssumeRolePolicyDocument"]))
            for inline in properties.get("Policies", []):
                yield Policy("identity", logical_id, logical_id, renderer.render(inline["PolicyDocument"]))
        elif kind == "AWS::S3::BucketPolicy":
            yield Policy("resource", logical_id, properties["Bucket"]["Ref"], renderer.render(properties["PolicyDocument"]))
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in properties["Topics"]:
                yield Policy("resource", logical_id, topic["Ref"], renderer.render(properties["PolicyDocument"]))
        elif kind == "AWS::KMS::Key":
            yield Policy("resource", logical_id, logical_id, renderer.render(properties["KeyPolicy"]))


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return list(found) if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# ---- the linter's view: every statement as a document of its own, its resource explicit ----


@dataclass(frozen=True)
class LintTarget:
    """One statement to lint, alone in a document, with what names it in a review."""

    policy: str  # readable logical id of the policy's resource
    kind: str
    statement: dict[str, Any]  # as in the template, rendered
    document: dict[str, Any]  # what the linter reads


def lint_targets(template: dict[str, Any]) -> Iterator[LintTarget]:
    """Every statement of every policy, in a form an identity-policy linter reads correctly.

    A trust policy is the role's resource policy, so its statements get the role's ARN as Resource; in
    a key policy, `Resource: "*"` means this key (AWS KMS Developer Guide, 'Key policies'), so it
    becomes the key's ARN.
    """
    renderer = Renderer(template)
    for policy in policies(template):
        for statement in statements(policy.document):
            linted = dict(statement)
            if policy.kind == "trust":
                linted["Resource"] = renderer.get_att(policy.owner, "Arn")
            elif template["Resources"][policy.logical_id]["Type"] == "AWS::KMS::Key":
                key_arn = renderer.get_att(policy.logical_id, "Arn")
                linted["Resource"] = [key_arn if r == "*" else r for r in as_list(statement["Resource"])]
            yield LintTarget(
                readable(policy.logical_id),
                policy.kind,
                statement,
                {"Version": "2012-10-17", "Statement": [linted]},
            )


def statement_matches(statement: dict[str, Any], selector: str) -> bool:
    """`Sid <sid>`, or `<action> on <resource>` (both in the statement, exactly)."""
    if selector.startswith("Sid "):
        return statement.get("Sid") == selector.removeprefix("Sid ")
    action, _, resource = selector.partition(" on ")
    return action in as_list(statement.get("Action", [])) and resource in as_list(statement.get("Resource", []))


def describe(statement: dict[str, Any]) -> str:
    """How a finding's statement is named in a failure message: its Sid, else its first action and resource."""
    if "Sid" in statement:
        return f"Sid {statement['Sid']}"
    return f"{as_list(statement['Action'])[0]} on {as_list(statement.get('Resource', ['(none)']))[0]}"
