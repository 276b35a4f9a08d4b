"""Evaluate the rendered template for one set of parameters, the way CloudFormation would.

Conditions, ``Fn::If`` / ``AWS::NoValue``, ``Ref``, ``Fn::Sub`` and ``Fn::GetAtt`` are
resolved (resource attributes to the ARNs and names CloudFormation would give them, for
the resources the deploy tests look at), and resources whose condition is false are
dropped. moto's CloudFormation has no Firehose resource, so the delivery tests read the
stack through this instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ACCOUNT = "111122223333"
REGION = "eu-west-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": "logstep-stage",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()


class Evaluated:
    """The template's conditions, resources and outputs under the given parameters."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
        self.parameters = {**defaults, **parameters}
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)
        self.resources = {
            name: self.value(resource)
            for name, resource in template["Resources"].items()
            if self.condition(resource.get("Condition"))
        }
        self.outputs = {
            name: self.value(output["Value"])
            for name, output in template.get("Outputs", {}).items()
            if self.condition(output.get("Condition"))
        }

    def condition(self, name: str | None) -> bool:
        if name is None:
            return True
        if name not in self.conditions:
            self.conditions[name] = self._test(self.template["Conditions"][name])
        return self.conditions[name]

    def _test(self, node: Any) -> bool:
        ((fn, args),) = node.items()
        if fn == "Condition":
            return self.condition(args)
        if fn == "Fn::Equals":
            return bool(self.value(args[0]) == self.value(args[1]))
        if fn == "Fn::Not":
            return not self._test(args[0])
        if fn == "Fn::And":
            return all(self._test(a) for a in args)
        if fn == "Fn::Or":
            return any(self._test(a) for a in args)
        raise ValueError(f"condition function {fn}")

    def value(self, node: Any) -> Any:
        """A template value with every function resolved (AWS::NoValue removed)."""
        out = self._value(node)
        return None if out is _NO_VALUE else out

    def _value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self._value(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Ref":
                return self._ref(args)
            if fn == "Fn::If":
                return self._value(args[1] if self.condition(args[0]) else args[2])
            if fn == "Fn::Sub":
                return self._sub(args)
            if fn == "Fn::GetAtt":
                return self.attribute(args[0], args[1])
            if fn == "Condition":
                return self.condition(args)
        return {k: v for k, v in ((k, self._value(v)) for k, v in node.items()) if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.attribute(name, "Ref")

    def _sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
        values = {k: self._value(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in values:
                return str(values[key])
            if "." in key:
                return str(self.attribute(*key.split(".", 1)))
            return str(self._ref(key))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def attribute(self, resource: str, attribute: str) -> str:
        """What Ref / GetAtt of a resource resolves to (names as the template sets them)."""
        stage = self.parameters["Stage"]
        base = f"{REGION}:{ACCOUNT}"
        known = {
            ("DestinationStream", "Ref"): f"logstep-{stage}-destination",
            ("DestinationStream", "Arn"): f"arn:aws:kinesis:{base}:stream/logstep-{stage}-destination",
            ("SourceStream", "Ref"): f"logstep-{stage}-source",
            ("SourceStream", "Arn"): f"arn:aws:kinesis:{base}:stream/logstep-{stage}-source",
            ("ClaimCheckBucket", "Ref"): f"logstep-{stage}-claimcheck-{ACCOUNT}-{REGION}",
            ("ClaimCheckBucket", "Arn"): f"arn:aws:s3:::logstep-{stage}-claimcheck-{ACCOUNT}-{REGION}",
            ("FirehoseLogGroup", "Ref"): f"/aws/kinesisfirehose/logstep-{stage}",
            ("FirehoseLogStream", "Ref"): "DestinationDelivery",
            ("FirehoseStream", "Ref"): f"logstep-{stage}-firehose",
            ("FirehoseRole", "Arn"): f"arn:aws:iam::{ACCOUNT}:role/logstep-{stage}-FirehoseRole-X",
            (
                "PutBatchDeliveryPolicy",
                "Ref",
            ): f"arn:aws:iam::{ACCOUNT}:policy/logstep-{stage}-put_batch-delivery",
            ("AlarmTopic", "Ref"): f"arn:aws:sns:{base}:logstep-{stage}-alarms",
            ("PipelineStateMachine", "Ref"): f"arn:aws:states:{base}:stateMachine:logstep-{stage}-pipeline",
        }
        if (resource, attribute) in known:
            assert self.condition(self.template["Resources"][resource].get("Condition")), (
                f"{resource} is referenced but its condition is false"
            )
            return known[(resource, attribute)]
        return f"<{resource}.{attribute}>"
