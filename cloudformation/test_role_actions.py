"""The customer role allows exactly the AWS calls dd0c makes with it, and denies the read
actions that return customer secrets (issue 17, item 3).

The calls are read from the Rust sources: every AWS SDK client built on the assumed-role
credentials (a `fn <name>(&self, session: &Session, ...) -> Result<aws_sdk_<crate>::Client, _>`
helper in shared/src/accounts/aws.rs that sets `.credentials_provider(...)`), and every
`.<helper>(session, ...)?.<operation>()` chain on such a client. Operation names are mapped
from snake_case to the IAM action (`describe_instances` on the ec2 client →
`ec2:DescribeInstances`). The only other place that may touch the assumed-role credentials is
that file: a `credentials_provider(` or `session.credentials` anywhere else under shared/,
functions/ or cli/ fails the test, so a new client cannot escape the comparison.

Run with the repo venv: .venv/bin/python -m unittest discover -s cloudformation -p 'test_*.py'
(pytest collects it too)."""

from __future__ import annotations

import os
import re
import unittest

from cfnlint.decode import cfn_yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEMPLATE = os.path.join(HERE, "dd0c-readonly.yaml")
ACCOUNTS_AWS = os.path.join(ROOT, "shared", "src", "accounts", "aws.rs")
# The remediation role's calls (issue 14, item 1): compared with Dd0cRemediationRole the same way.
REMEDIATION_AWS = os.path.join(ROOT, "shared", "src", "remediation", "aws.rs")
ASSUMED_ROLE_FILES = (ACCOUNTS_AWS, REMEDIATION_AWS)
SCANNED_DIRS = ("shared", "functions", "cli")

# SDK crate → IAM service prefix. A crate missing here fails the test (add it deliberately).
SERVICE_PREFIX = {
    "aws_sdk_ec2": "ec2",
    "aws_sdk_rds": "rds",
    "aws_sdk_cloudwatch": "cloudwatch",
    "aws_sdk_lambda": "lambda",
    "aws_sdk_costexplorer": "ce",
    "aws_sdk_resourcegroupstagging": "tag",
    "aws_sdk_cloudtrail": "cloudtrail",
    "aws_sdk_cloudformation": "cloudformation",
    "aws_sdk_elasticloadbalancingv2": "elasticloadbalancing",
}

# Actions that return user data, environment variables, code, passwords, secrets or
# customer data. The role must deny each of them explicitly (an explicit Deny wins over any
# Allow, including one from a managed policy someone attaches to the role later).
SENSITIVE = (
    "ec2:DescribeInstanceAttribute",        # userData, and more
    "ec2:DescribeLaunchTemplateVersions",   # launch template user data
    "ec2:GetLaunchTemplateData",            # user data of a running instance
    "ec2:GetPasswordData",                  # Windows administrator password
    "ec2:GetConsoleOutput",                 # boot log (often prints secrets)
    "ec2:GetConsoleScreenshot",
    "lambda:GetFunction",                   # presigned code URL + environment variables
    "lambda:GetFunctionConfiguration",      # environment variables
    "lambda:GetLayerVersion",               # presigned layer code URL
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameterHistory",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "kms:Decrypt",
    "ecs:DescribeTaskDefinition",           # container environment variables
    "cloudformation:GetTemplate",           # templates with literal secrets
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)


def pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def assumed_role_clients(src: str) -> dict[str, str]:
    """helper method name → SDK crate, for the client helpers built on a Session."""
    clients = {}
    for m in re.finditer(
        r"fn\s+(\w+)\s*\(\s*&self\s*,\s*session\s*:\s*&Session[^)]*\)\s*->\s*Result<\s*(aws_sdk_\w+)::Client",
        src,
    ):
        name, crate = m.group(1), m.group(2)
        body = src[m.end(): src.find("\n    }\n", m.end())]
        if "credentials_provider(" in body:
            clients[name] = crate
    return clients


def sdk_calls(src: str) -> set[tuple[str, str]]:
    """(crate, operation) for each `.helper(session, ...)?.operation()` chain."""
    clients = assumed_role_clients(src)
    calls = set()
    for m in re.finditer(r"\.\s*(\w+)\s*\(\s*session\b[^)]*\)\s*\?\s*\.\s*(\w+)\s*\(", src):
        helper, op = m.group(1), m.group(2)
        if helper in clients:
            calls.add((clients[helper], op))
    return calls


def code_actions(path: str = ACCOUNTS_AWS) -> set[str]:
    with open(path, encoding="utf-8") as f:
        src = f.read()
    actions = set()
    for crate, op in sdk_calls(src):
        if crate not in SERVICE_PREFIX:
            raise AssertionError(f"no IAM prefix for {crate} (used with the assumed role): add it to SERVICE_PREFIX")
        actions.add(f"{SERVICE_PREFIX[crate]}:{pascal(op)}")
    return actions


def as_list(v):
    return v if isinstance(v, list) else [v]


class RoleActionsMatchTheCode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t = cfn_yaml.load(TEMPLATE)
        role = t["Resources"]["Dd0cReadOnlyRole"]["Properties"]
        cls.role = role
        cls.statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        with open(ACCOUNTS_AWS, encoding="utf-8") as f:
            cls.src = f.read()

    def allowed(self) -> list[str]:
        return [a for s in self.statements if s["Effect"] == "Allow" for a in as_list(s["Action"])]

    def test_the_extraction_finds_the_clients_and_calls(self):
        # Guards the parser itself: if the code is restructured, fail here, not silently.
        self.assertEqual(
            set(assumed_role_clients(self.src).values()),
            {
                "aws_sdk_ec2",
                "aws_sdk_rds",
                "aws_sdk_cloudwatch",
                "aws_sdk_cloudtrail",
                "aws_sdk_cloudformation",
                "aws_sdk_resourcegroupstagging",
            },
        )
        # The stack discovery (issue 16, item 1) lists stacks and their resources only:
        # DescribeStacks would return parameters and outputs too.
        self.assertEqual(
            {call for client, call in sdk_calls(self.src) if client == "aws_sdk_cloudformation"},
            {"list_stacks", "list_stack_resources"},
        )
        self.assertIn(("aws_sdk_ec2", "describe_instances"), sdk_calls(self.src))
        # The backfill (issue 12, item 5) reads CloudTrail's event history and nothing else.
        self.assertEqual(
            {call for client, call in sdk_calls(self.src) if client == "aws_sdk_cloudtrail"},
            {"lookup_events"},
        )
        self.assertGreaterEqual(len(code_actions()), 6)
        # Every use of an assumed-role client is a `.helper(session, ..)?.operation(` chain the
        # parser reads: a client kept in a variable would escape it.
        for helper in assumed_role_clients(self.src):
            uses = re.findall(rf"\.\s*{helper}\s*\(\s*session\b[^)]*\)\s*\?\s*(\.\s*\w+\s*\()?", self.src)
            self.assertTrue(uses, helper)
            self.assertTrue(all(uses), f"a {helper}(session, ..) client is used other than as .{helper}(..)?.operation()")

    def test_no_other_code_uses_the_assumed_role_credentials(self):
        offenders = []
        for d in SCANNED_DIRS:
            for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
                for name in files:
                    path = os.path.join(dirpath, name)
                    if not name.endswith(".rs") or any(os.path.samefile(path, p) for p in ASSUMED_ROLE_FILES):
                        continue
                    with open(path, encoding="utf-8") as f:
                        text = f.read()
                    if "credentials_provider(" in text or "session.credentials" in text:
                        offenders.append(os.path.relpath(path, ROOT))
        self.assertEqual(offenders, [], "assumed-role credentials used outside shared/src/accounts/aws.rs and shared/src/remediation/aws.rs")

    def test_allow_list_is_exactly_the_calls_the_code_makes(self):
        allowed = self.allowed()
        for a in allowed:
            self.assertNotIn("*", a, f"wildcard action {a} allows more than dd0c calls")
        # IAM action names are case-insensitive (DescribeDBInstances = describe_db_instances).
        self.assertEqual(
            sorted(a.lower() for a in allowed),
            sorted(a.lower() for a in code_actions()),
            f"role allows {sorted(allowed)}; the code calls {sorted(code_actions())}",
        )

    def test_code_error_labels_name_the_same_actions(self):
        # classify("ec2:DescribeInstances", e) or classify_regional("tag:GetResources", region,
        # e): the labels a denial reports to the customer.
        labels = set(re.findall(r'classify(?:_regional)?\(\s*"([a-z0-9-]+:\w+)"', self.src))
        self.assertEqual({a.lower() for a in labels}, {a.lower() for a in code_actions()})
        self.assertEqual(set(self.allowed()), labels, "write the template's actions as the code labels them")

    def test_sensitive_actions_are_explicitly_denied(self):
        denied = [
            (a, s) for s in self.statements if s["Effect"] == "Deny" for a in as_list(s["Action"])
        ]
        for action in SENSITIVE:
            service, name = action.split(":")
            hits = [
                s for a, s in denied
                if a.split(":")[0] == service and re.fullmatch(
                    re.escape(a.split(":")[1]).replace(r"\*", ".*"), name, re.IGNORECASE)
            ]
            self.assertTrue(hits, f"{action} is not denied")
            for s in hits:
                self.assertEqual(s.get("Resource"), "*", action)
                self.assertNotIn("Condition", s, action)

    def test_no_allow_matches_a_sensitive_action(self):
        for a in self.allowed():
            service, pattern = a.split(":")
            rx = re.escape(pattern).replace(r"\*", ".*")
            for action in SENSITIVE:
                s, name = action.split(":")
                self.assertFalse(s == service and bool(re.fullmatch(rx, name, re.IGNORECASE)), f"{a} allows {action}")

    def test_external_id_still_required(self):
        (stmt,) = self.role["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual(stmt["Condition"]["StringEquals"]["sts:ExternalId"], {"Ref": "ExternalId"})

    def test_no_managed_policies_or_boundary_broaden_it(self):
        self.assertNotIn("ManagedPolicyArns", self.role)


class RemediationRoleActionsMatchTheCode(unittest.TestCase):
    """The optional remediation role allows exactly the write calls shared/src/remediation/aws.rs
    makes, each on this account's resources only, and nothing the read-only role does."""

    @classmethod
    def setUpClass(cls):
        t = cfn_yaml.load(TEMPLATE)
        cls.role = t["Resources"]["Dd0cRemediationRole"]
        cls.statements = [
            s for p in cls.role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
        ]
        with open(REMEDIATION_AWS, encoding="utf-8") as f:
            cls.src = f.read()

    def allowed(self) -> list[str]:
        return [a for s in self.statements if s["Effect"] == "Allow" for a in as_list(s["Action"])]

    def test_the_extraction_finds_the_write_calls(self):
        self.assertEqual(
            sdk_calls(self.src),
            {
                ("aws_sdk_ec2", "stop_instances"),
                ("aws_sdk_ec2", "revoke_security_group_ingress"),
                ("aws_sdk_rds", "modify_db_instance"),
            },
        )

    def test_allow_list_is_exactly_the_calls_the_code_makes(self):
        self.assertEqual(
            sorted(a.lower() for a in self.allowed()),
            sorted(a.lower() for a in code_actions(REMEDIATION_AWS)),
        )
        labels = set(re.findall(r'classify\(\s*"([a-z0-9-]+:\w+)"', self.src))
        self.assertEqual(set(self.allowed()), labels, "write the template's actions as the code labels them")

    def test_each_allow_is_limited_to_this_accounts_resources_of_its_type(self):
        expected = {
            "ec2:StopInstances": ":ec2:*:${AWS::AccountId}:instance/*",
            "ec2:RevokeSecurityGroupIngress": ":ec2:*:${AWS::AccountId}:security-group/*",
            "rds:ModifyDBInstance": ":rds:*:${AWS::AccountId}:db:*",
        }
        for s in self.statements:
            if s["Effect"] != "Allow":
                continue
            (action,) = as_list(s["Action"])
            self.assertTrue(s["Resource"]["Fn::Sub"].endswith(expected[action]), (action, s["Resource"]))

    def test_protected_resources_are_denied(self):
        (deny,) = [s for s in self.statements if s["Effect"] == "Deny"]
        self.assertEqual(sorted(as_list(deny["Action"])), sorted(self.allowed()))
        self.assertEqual(deny["Condition"]["StringEqualsIgnoreCase"], {"aws:ResourceTag/dd0c:protect": "true"})

    def test_nothing_sensitive_or_read_only_is_allowed(self):
        for a in self.allowed():
            self.assertNotIn("*", a)
            self.assertNotIn(a, SENSITIVE)
            self.assertNotRegex(a, r":(Describe|List|Get|Lookup)")

    def test_same_external_id_protection_and_off_by_default(self):
        (stmt,) = self.role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual(stmt["Condition"]["StringEquals"]["sts:ExternalId"], {"Ref": "ExternalId"})
        self.assertEqual(self.role["Condition"], "RemediationEnabled")
        self.assertNotIn("ManagedPolicyArns", self.role["Properties"])


if __name__ == "__main__":
    unittest.main()
