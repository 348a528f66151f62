"""Structural tests of the customer template (run with the repo venv, which has cfn-lint:
.venv/bin/python -m unittest discover -s cloudformation -p 'test_*.py')."""

from __future__ import annotations

import json
import os
import re
import unittest
import uuid

from cfnlint.decode import cfn_yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "dd0c-readonly.yaml")
# What the rule forwards, as the replay's meter reads it (shared/src/forwarding.rs).
FORWARDING_RULE = os.path.join(HERE, "..", "shared", "forwarding-rule.json")


class Dd0cReadOnlyTemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = cfn_yaml.load(TEMPLATE)

    def pattern(self, name: str) -> re.Pattern:
        return re.compile(self.t["Parameters"][name]["AllowedPattern"])

    def test_every_parameter_is_validated(self):
        for name, param in self.t["Parameters"].items():
            self.assertIn("AllowedPattern", param, name)
            self.assertIn("ConstraintDescription", param, name)

    def test_account_id_pattern(self):
        p = self.pattern("Dd0cAccountId")
        self.assertTrue(p.fullmatch("123456789012"))
        for bad in ("12345678901", "1234567890123", "12345678901a", ""):
            self.assertIsNone(p.fullmatch(bad), bad)

    def test_external_id_is_a_required_uuid4(self):
        param = self.t["Parameters"]["ExternalId"]
        self.assertNotIn("Default", param)
        p = self.pattern("ExternalId")
        for _ in range(50):
            self.assertTrue(p.fullmatch(str(uuid.uuid4())))
        for bad in (
            str(uuid.uuid1()),  # version 1
            str(uuid.uuid4()).upper(),
            str(uuid.uuid4()).replace("-", ""),
            "00000000-0000-4000-c000-000000000000",  # variant not RFC 4122
            "",
        ):
            self.assertIsNone(p.fullmatch(bad), bad)

    def test_region_pattern(self):
        p = self.pattern("Dd0cRegion")
        for ok in ("us-east-1", "eu-west-3", "ap-southeast-3", "us-gov-west-1", "me-central-1"):
            self.assertTrue(p.fullmatch(ok), ok)
        for bad in ("us-east", "US-EAST-1", "us-east-10", "useast1", ""):
            self.assertIsNone(p.fullmatch(bad), bad)

    def test_trust_requires_external_id_and_dd0c_account(self):
        role = self.t["Resources"]["Dd0cReadOnlyRole"]["Properties"]
        (stmt,) = role["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual(stmt["Action"], "sts:AssumeRole")
        self.assertEqual(stmt["Condition"]["StringEquals"]["sts:ExternalId"], {"Ref": "ExternalId"})
        self.assertIn("${Dd0cAccountId}:root", stmt["Principal"]["AWS"]["Fn::Sub"])

    def test_permissions_are_read_only(self):
        role = self.t["Resources"]["Dd0cReadOnlyRole"]["Properties"]
        allowed = []
        for policy in role["Policies"]:
            for stmt in policy["PolicyDocument"]["Statement"]:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                if stmt["Effect"] == "Allow":
                    allowed.extend(actions)
        # The exact list is compared with the code's SDK calls in test_role_actions.py.
        self.assertTrue(allowed)
        verb = re.compile(r"^[a-z0-9-]+:(Describe|List|Get|Lookup)")
        for action in allowed:
            self.assertRegex(action, verb)

    def test_remediation_is_off_by_default_and_a_separate_role(self):
        param = self.t["Parameters"]["EnableRemediation"]
        self.assertEqual(param["Default"], "false")
        p = self.pattern("EnableRemediation")
        self.assertTrue(p.fullmatch("true") and p.fullmatch("false"))
        for bad in ("yes", "True", ""):
            self.assertIsNone(p.fullmatch(bad), bad)
        self.assertEqual(
            self.t["Conditions"]["RemediationEnabled"],
            {"Fn::Equals": [{"Ref": "EnableRemediation"}, "true"]},
        )
        role = self.t["Resources"]["Dd0cRemediationRole"]
        self.assertEqual(role["Condition"], "RemediationEnabled")
        # The read-only role stays read-only and unconditional; the remediation role's ARN is
        # an output only when it exists.
        self.assertNotIn("Condition", self.t["Resources"]["Dd0cReadOnlyRole"])
        out = self.t["Outputs"]["RemediationRoleArn"]
        self.assertEqual(out["Condition"], "RemediationEnabled")
        self.assertEqual(out["Value"], {"Fn::GetAtt": ["Dd0cRemediationRole", "Arn"]})

    def test_rule_forwards_cloudtrail_api_calls_to_the_dd0c_bus(self):
        rule = self.t["Resources"]["Dd0cForwardApiCallsRule"]["Properties"]
        self.assertEqual(rule["EventBusName"], "default")
        self.assertEqual(rule["EventPattern"]["detail-type"], ["AWS API Call via CloudTrail"])
        for source in ("aws.ec2", "aws.rds", "aws.lambda", "aws.elasticloadbalancing", "aws.eks",
                       "aws.elasticache", "aws.es", "aws.redshift", "aws.sagemaker", "aws.autoscaling",
                       "aws.s3", "aws.iam", "aws.kms", "aws.cloudtrail"):
            self.assertIn(source, rule["EventPattern"]["source"])
        # Failed calls change nothing dd0c follows: the customer is not billed for sending them.
        self.assertEqual(rule["EventPattern"]["detail"], {"errorCode": [{"exists": False}]})
        (target,) = rule["Targets"]
        self.assertEqual(
            target["Arn"]["Fn::Sub"], "arn:${AWS::Partition}:events:${Dd0cRegion}:${Dd0cAccountId}:event-bus/dd0c"
        )
        self.assertEqual(target["RoleArn"], {"Fn::GetAtt": ["Dd0cForwardEventsRole", "Arn"]})
        put = self.t["Resources"]["Dd0cForwardEventsRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        self.assertEqual(put["Statement"][0]["Action"], "events:PutEvents")
        self.assertEqual(put["Statement"][0]["Resource"], target["Arn"])

    def test_rule_is_the_one_the_replay_meters(self):
        """The template's rule and shared/forwarding-rule.json are the same rule: the replay
        bills only what this rule sends (its Rust side is in shared/src/forwarding.rs)."""
        rule = self.t["Resources"]["Dd0cForwardApiCallsRule"]["Properties"]
        with open(FORWARDING_RULE, encoding="utf-8") as f:
            data = json.load(f)
        self.assertEqual(rule["State"], data["state"])
        self.assertEqual(rule["EventPattern"], data["event_pattern"])

    def test_outputs(self):
        outputs = self.t["Outputs"]
        self.assertEqual(outputs["RoleArn"]["Value"], {"Fn::GetAtt": ["Dd0cReadOnlyRole", "Arn"]})
        self.assertEqual(outputs["ExternalId"]["Value"], {"Ref": "ExternalId"})


if __name__ == "__main__":
    unittest.main()
