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
_PSEUDO_FOR_READERS = {"AWS::Region": "REGION", "AWS::AccountId": "ACCOUNT"}
_HASH = re.compile(r"[0-9A-F]{8}$")


def _name(logical_id: str) -> str:
    """A resource's physical name, much as CloudFormation generates it (stack name, logical id)."""
    return f"tfmodellifecycle-{readable(logical_id).lower()}"


def _arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


class Renderer:
    """Renders Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split and Fn::FindInMap of one template."""

    def __init__(self, template: dict[str, Any], *, for_readers: bool = False) -> None:
        """`for_readers`: names are logical ids without hash, account and region are placeholders."""
        self.resources: dict[str, Any] = template["Resources"]
        self.mappings: dict[str, Any] = template.get("Mappings", {})
        self.for_readers = for_readers

    def _type(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Type"])

    def ref(self, logical_id: str) -> str:
        if self.for_readers and logical_id in _PSEUDO_FOR_READERS:
            return _PSEUDO_FOR_READERS[logical_id]
        if logical_id in _PSEUDO:
            return _PSEUDO[logical_id]
        kind = self._type(logical_id)
        name = readable(logical_id) if self.for_readers else _name(logical_id)
        at = {"region": self.ref("AWS::Region"), "account": self.ref("AWS::AccountId")}
        if kind == "AWS::SNS::Topic":
            return _arn("sns", name, **at)
        if kind == "AWS::StepFunctions::StateMachine":
            return _arn("states", f"stateMachine:{name}", **at)
        if kind == "AWS::KMS::Key" and not self.for_readers:
            return "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        return name  # buckets, tables, roles, functions, log groups: their names

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind, name = self._type(logical_id), self.ref(logical_id)
        region, account = (self.ref("AWS::Region"), self.ref("AWS::AccountId"))
        if attribute != "Arn":
            raise ValueError(f"no rendering for {logical_id}.{attribute}")
        at = {"region": region, "account": account}
        arns = {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::KMS::Key": _arn("kms", f"key/{name}", **at),
            "AWS::IAM::Role": _arn("iam", f"role/{name}", region="", account=account),
            "AWS::Lambda::Function": _arn("lambda", f"function:{name}", **at),
            "AWS::DynamoDB::Table": _arn("dynamodb", f"table/{name}", **at),
            "AWS::Logs::LogGroup": _arn("logs", f"log-group:{name}:*", **at),
            "AWS::CloudWatch::Alarm": _arn("cloudwatch", f"alarm:{name}", **at),
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
            if self.for_readers:
                return readable(mapping).upper()
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


def policies(template: dict[str, Any], *, for_readers: bool = False) -> Iterator[Policy]:
    """Every identity, trust and resource policy of the template, its tokens rendered."""
    renderer = Renderer(template, for_readers=for_readers)
    for logical_id, resource in template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Policy":
            for role in properties.get("Roles", []):
                yield Policy(
                    "identity", logical_id, role["Ref"], renderer.render(properties["PolicyDocument"])
                )
        elif kind == "AWS::IAM::Role":
            yield Policy(
                "trust", logical_id, logical_id, renderer.render(properties["AssumeRolePolicyDocument"])
            )
            for inline in properties.get("Policies", []):
                yield Policy("identity", logical_id, logical_id, renderer.render(inline["PolicyDocument"]))
        elif kind == "AWS::S3::BucketPolicy":
            yield Policy(
                "resource",
                logical_id,
                properties["Bucket"]["Ref"],
                renderer.render(properties["PolicyDocument"]),
            )
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in properties["Topics"]:
                yield Policy(
                    "resource", logical_id, topic["Ref"], renderer.render(properties["PolicyDocument"])
                )
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
    return action in as_list(statement.get("Action", [])) and resource in as_list(
        statement.get("Resource", [])
    )


def describe(statement: dict[str, Any]) -> str:
    """A statement as a failure message names it: its Sid, else its first action and resource."""
    if "Sid" in statement:
        return f"Sid {statement['Sid']}"
    return f"{as_list(statement['Action'])[0]} on {as_list(statement.get('Resource', ['(none)']))[0]}"


# ---- the README's least-privilege table ----

# Why a role may do something: the first entry whose action prefix matches (lower case).
REASONS: tuple[tuple[str, str], ...] = (
    *(
        (f"logs:{action}", "execution logs: vended log delivery to the workflow's log group")
        for action in (
            "createlogdelivery",
            "deletelogdelivery",
            "describeloggroups",
            "describeresourcepolicies",
            "getlogdelivery",
            "listlogdeliveries",
            "putresourcepolicy",
            "updatelogdelivery",
        )
    ),
    ("logs:", "writes its own logs"),
    ("xray:", "X-Ray tracing"),
    ("cloudwatch:putmetricdata", "training metrics, in SageMaker's namespaces only"),
    ("cloudwatch:describealarms", "reads the endpoint's alarms (deployment guardrail, target tracking)"),
    ("cloudwatch:putmetricalarm", "target tracking's alarms of the endpoint variant (autoscaling)"),
    ("cloudwatch:deletealarms", "target tracking's alarms of the endpoint variant (autoscaling)"),
    (
        "application-autoscaling:",
        "keeps the endpoint's autoscaling: registers the variant and its target-tracking policy",
    ),
    ("ecr:getauthorizationtoken", "signs in to ECR to pull the TensorFlow images"),
    ("ecr:", "pulls the TensorFlow training and inference images"),
    ("s3:getobject", "reads objects under its prefixes (and the training code archive)"),
    ("s3:listbucket", "lists keys only under its prefixes (s3:prefix condition)"),
    ("s3:getbucketlocation", "SDKs and SageMaker find each bucket's region"),
    ("s3:putobject", "writes its outputs under its prefixes"),
    ("s3:abortmultipartupload", "writes its outputs under its prefixes"),
    ("s3:listmultipartuploadparts", "writes its outputs under its prefixes"),
    ("kms:", "the buckets are encrypted with the project's key"),
    ("lambda:invokefunction", "calls the workflow's functions"),
    ("dynamodb:query", "reads the model registry (by status)"),
    ("dynamodb:", "records runs, models and outcomes in the registry (the step cache: its own entries)"),
    ("sagemaker:listtags", "SageMaker .sync integrations read the tags of what they create"),
    ("sagemaker:listendpoints", "finds the endpoint by name"),
    ("sagemaker:createmodel", "registers the trained model"),
    ("sagemaker:createendpointconfig", "deploys the one endpoint (blue/green)"),
    ("sagemaker:createendpoint", "deploys the one endpoint (blue/green)"),
    ("sagemaker:updateendpoint", "deploys the one endpoint (blue/green)"),
    ("sagemaker:describeendpointconfig", "reads the live endpoint's instance type before an update"),
    ("sagemaker:describeendpoint", "deploys the one endpoint (blue/green)"),
    ("sagemaker:updateendpointweightsandcapacities", "registering the variant for autoscaling requires it"),
    ("sagemaker:", "runs SageMaker jobs, tags them and waits on them (.sync)"),
    ("iam:createservicelinkedrole", "Application Auto Scaling's SageMaker service-linked role, once"),
    ("iam:passrole", "jobs run as the SageMaker role (passed to sagemaker.amazonaws.com only)"),
    ("events:", ".sync integrations: Step Functions' managed rules for completion events"),
    ("states:startexecution", "starts the workflow"),
    ("states:", "waits on and stops the training execution it started"),
    ("sns:publish", "notifies"),
)
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def reason(action: str) -> str:
    for prefix, why in REASONS:
        if action.lower().startswith(prefix):
            return why
    raise KeyError(f"no reason for {action}: add one to REASONS in stacks/iam_report.py")


def _resource_policy_reason(statement: dict[str, Any]) -> str:
    text = str(statement.get("Principal", ""))
    if statement["Effect"] == "Deny":
        return "TLS only" if "aws:SecureTransport" in str(statement.get("Condition")) else "denied"
    for needle, why in (
        ("logging.s3", "S3 server access logs of the data and artifacts buckets"),
        ("logs.", "CloudWatch Logs encrypts the log groups"),
        ("cloudwatch.amazonaws.com", "CloudWatch alarms notify through the encrypted topic"),
        (":root", "the account administers the key and delegates its use to IAM policies"),
    ):
        if needle in text:
            return why
    raise KeyError(
        f"no reason for the resource policy statement {statement}: add one in stacks/iam_report.py"
    )


def _short(value: str) -> str:
    """`arn:aws:sagemaker:REGION:ACCOUNT:training-job/*` → `sagemaker training-job/*`."""
    value = _ASSET_HASH.sub("<asset hash>", value)
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        return f"{parts[2]} {parts[5]}"
    return value


def _code(values: list[Any]) -> str:
    return ", ".join(f"`{_short(str(value))}`" for value in values)


def _condition(statement: dict[str, Any]) -> str:
    found = []
    for operator, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            found.append(f"{key} {operator} {_code(as_list(values))}")
    return "; ".join(found)


def _principal(statement: dict[str, Any]) -> str:
    principal = statement.get("Principal", "*")
    if isinstance(principal, dict):
        return _code([value for values in principal.values() for value in as_list(values)])
    return f"`{principal}`"


def _identity_rows(template: dict[str, Any]) -> list[str]:
    trusts = {p.logical_id: p for p in policies(template, for_readers=True) if p.kind == "trust"}
    grants: dict[str, list[dict[str, Any]]] = {}
    for policy in policies(template, for_readers=True):
        if policy.kind == "identity":
            grants.setdefault(policy.owner, []).extend(statements(policy.document))
    rows = []
    for role, trust in trusts.items():
        first = True
        for statement in grants.get(role, []):
            by_reason: dict[str, list[str]] = {}
            for action in as_list(statement["Action"]):
                by_reason.setdefault(reason(action), []).append(action)
            for why, actions in by_reason.items():
                who = ""
                if first:
                    assumed = "; ".join(
                        _principal(s) + (f" if {_condition(s)}" if "Condition" in s else "")
                        for s in statements(trust.document)
                    )
                    who = f"**{readable(role)}** (assumed by {assumed})"
                first = False
                effect = "" if statement["Effect"] == "Allow" else "**deny** "
                rows.append(
                    f"| {who} | {effect}{_code(actions)} | {_code(as_list(statement['Resource']))} "
                    f"| {_condition(statement)} | {why} |"
                )
    return rows


def _resource_rows(template: dict[str, Any]) -> list[str]:
    rows = []
    for policy in policies(template, for_readers=True):
        if policy.kind != "resource":
            continue
        for statement in statements(policy.document):
            effect = "may" if statement["Effect"] == "Allow" else "**may not**"
            actions = as_list(statement["Action"])
            shown = (
                _code(actions) if len(actions) <= 6 else f"{_code(actions[:3])} … ({len(actions)} actions)"
            )
            on = _code(as_list(statement["Resource"]))
            if template["Resources"][policy.logical_id]["Type"] == "AWS::KMS::Key" and on == "`*`":
                on = "`*` (this key)"
            rows.append(
                f"| {readable(policy.logical_id)} | {_principal(statement)} {effect} {shown} "
                f"| {on} | {_condition(statement)} "
                f"| {_resource_policy_reason(statement)} |"
            )
    return rows


def readme_block(template: dict[str, Any]) -> str:
    """The README's least-privilege section body, between its markers."""
    lines = [
        "<!-- iam:start -->",
        "Every grant of the synthesized template, generated by `python -m stacks.iam_report` (a test checks",
        "it is current). `REGION` and `ACCOUNT` are the deployment's; resources are named by logical id.",
        "",
        "| role | may | on | only if | why |",
        "|---|---|---|---|---|",
        *_identity_rows(template),
        "",
        "Resource policies (who else may use the project's resources):",
        "",
        "| resource | who may do what | on | only if | why |",
        "|---|---|---|---|---|",
        *_resource_rows(template),
        "<!-- iam:end -->",
    ]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    pattern = re.compile(r"<!-- iam:start -->.*?<!-- iam:end -->", re.DOTALL)
    if not pattern.search(text):
        raise ValueError("no <!-- iam:start --> / <!-- iam:end --> markers in the README")
    return pattern.sub(lambda _: block, text)


def update_readme(readme: Path = README) -> None:
    """Regenerate the README's least-privilege table from a fresh synth."""
    import app as cdk_app

    template = cdk_app.build_app().synth().get_stack_by_name(cdk_app.STACK_NAME).template
    readme.write_text(
        replace_block(readme.read_text(encoding="utf-8"), readme_block(template)), encoding="utf-8"
    )


if __name__ == "__main__":
    update_readme()
