"""The CloudFormation template as the local cloud sees it: intrinsic functions resolved against
the physical ids the provisioning step recorded, conditions evaluated with parameter defaults.

Nothing here knows dd0c's topology: it is a (small) CloudFormation evaluator.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any, Callable

log = logging.getLogger("localcloud.template")

ACCOUNT = "111111111111"
REGION = "us-east-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class NoValue:
    """AWS::NoValue: the key or list item is removed."""


NO_VALUE = NoValue()


class TemplateError(Exception):
    pass


def _short_hash(s: str, n: int = 10) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:n]


# Plausible physical ids and attributes of resource types the local cloud does not emulate
# (or before they are provisioned). Keys: (type) -> function(logical_id, props, template) -> dict.
def _service_of(rtype: str) -> str:
    parts = rtype.split("::")
    return parts[1].lower() if len(parts) > 1 else "unknown"


class Template:
    def __init__(
        self,
        doc: dict[str, Any],
        stack_name: str,
        parameters: dict[str, str] | None = None,
        account: str = ACCOUNT,
        region: str = REGION,
    ) -> None:
        self.doc = doc
        self.stack_name = stack_name
        self.account = account
        self.region = region
        self.resources: dict[str, dict[str, Any]] = doc.get("Resources", {})
        self.parameters: dict[str, Any] = {}
        for name, p in doc.get("Parameters", {}).items():
            if parameters and name in parameters:
                self.parameters[name] = parameters[name]
            elif "Default" in p:
                d = p["Default"]
                if p.get("Type", "").startswith("List<") or p.get("Type") == "CommaDelimitedList":
                    d = [x.strip() for x in str(d).split(",")]
                self.parameters[name] = d
            else:
                self.parameters[name] = ""
        # Physical id (what Ref returns) and attributes (Fn::GetAtt) of resources; filled in by
        # provisioning, defaults computed on demand for everything else.
        self.refs: dict[str, Any] = {}
        self.attrs: dict[str, dict[str, Any]] = {}
        self._condition_cache: dict[str, bool] = {}
        self.unresolved_types: set[str] = set()

    # ---- conditions --------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            conds = self.doc.get("Conditions", {})
            if name not in conds:
                raise TemplateError(f"unknown condition {name}")
            self._condition_cache[name] = bool(self._eval_condition(conds[name]))
        return self._condition_cache[name]

    def _eval_condition(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (k, v), = node.items()
            if k == "Fn::Equals":
                a, b = (self.resolve(x) for x in v)
                return str(a) == str(b) if not (isinstance(a, list) or isinstance(b, list)) else a == b
            if k == "Fn::Not":
                return not self._eval_condition(v[0])
            if k == "Fn::And":
                return all(self._eval_condition(x) for x in v)
            if k == "Fn::Or":
                return any(self._eval_condition(x) for x in v)
            if k == "Condition":
                return self.condition(v)
        return self.resolve(node)

    def exists(self, logical_id: str) -> bool:
        r = self.resources.get(logical_id)
        if r is None:
            return False
        c = r.get("Condition")
        return True if c is None else self.condition(c)

    def of_type(self, rtype: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k, r) for k, r in self.resources.items() if r.get("Type") == rtype and self.exists(k)]

    def props(self, logical_id: str) -> dict[str, Any]:
        """The resolved Properties of a resource."""
        p = self.resolve(self.resources[logical_id].get("Properties", {}))
        return p if isinstance(p, dict) else {}

    # ---- dependencies ------------------------------------------------------------------------
    def dependencies(self, logical_id: str) -> set[str]:
        deps: set[str] = set()
        r = self.resources[logical_id]
        d = r.get("DependsOn", [])
        deps.update([d] if isinstance(d, str) else d)

        def walk(n: Any) -> None:
            if isinstance(n, dict):
                if len(n) == 1:
                    (k, v), = n.items()
                    if k == "Ref" and isinstance(v, str) and v in self.resources:
                        deps.add(v)
                    elif k == "Fn::GetAtt":
                        tgt = v[0] if isinstance(v, list) else str(v).split(".")[0]
                        if tgt in self.resources:
                            deps.add(tgt)
                    elif k == "Fn::Sub":
                        s = v if isinstance(v, str) else v[0]
                        for m in re.findall(r"\$\{([^}!][^}]*)\}", s):
                            base = m.split(".")[0]
                            if base in self.resources:
                                deps.add(base)
                for x in n.values():
                    walk(x)
            elif isinstance(n, list):
                for x in n:
                    walk(x)

        walk(r.get("Properties", {}))
        return {x for x in deps if x in self.resources}

    def creation_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(k: str) -> None:
            s = state.get(k, 0)
            if s == 2:
                return
            if s == 1:
                return  # a cycle (CloudFormation would refuse it); break it
            state[k] = 1
            for d in sorted(self.dependencies(k)):
                visit(d)
            state[k] = 2
            order.append(k)

        for k in self.resources:
            visit(k)
        return [k for k in order if self.exists(k)]

    # ---- Ref / GetAtt ------------------------------------------------------------------------
    def pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/"
            f"{_short_hash(self.stack_name, 8)}-0000-0000-0000-000000000000",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        if name not in self.resources:
            raise TemplateError(f"Ref to unknown {name}")
        return self._default(name)["Ref"]

    def get_att(self, logical_id: str, attr: str) -> Any:
        if logical_id not in self.resources:
            raise TemplateError(f"Fn::GetAtt of unknown {logical_id}")
        a = self.attrs.get(logical_id, {})
        if attr in a:
            return a[attr]
        d = self._default(logical_id)
        if attr in d:
            return d[attr]
        rtype = self.resources[logical_id]["Type"]
        self.unresolved_types.add(f"{rtype}.{attr}")
        log.debug("no value for %s.%s (%s): plausible default", logical_id, attr, rtype)
        return f"{self.ref(logical_id)}-{attr}"

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"

    def _default(self, logical_id: str) -> dict[str, Any]:
        """Plausible Ref/attributes of a resource nobody provisioned."""
        r = self.resources[logical_id]
        rtype = r["Type"]
        raw = r.get("Properties", {})

        def prop(name: str, dflt: Any = None) -> Any:
            if name not in raw:
                return dflt
            try:
                return self.resolve(raw[name])
            except TemplateError:
                return dflt

        gen = f"{self.stack_name}-{logical_id[:40]}-{_short_hash(logical_id, 12).upper()}"
        t = rtype
        if t == "AWS::Lambda::Function":
            name = prop("FunctionName", gen)
            return {"Ref": name, "Arn": self.arn("lambda", f"function:{name}")}
        if t == "AWS::SQS::Queue":
            name = prop("QueueName") or (gen + (".fifo" if prop("FifoQueue") else ""))
            return {
                "Ref": f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}",
                "Arn": self.arn("sqs", name),
                "QueueName": name,
                "QueueUrl": f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}",
            }
        if t == "AWS::DynamoDB::Table":
            name = prop("TableName", gen)
            return {"Ref": name, "Arn": self.arn("dynamodb", f"table/{name}"),
                    "StreamArn": self.arn("dynamodb", f"table/{name}/stream/2026-01-01T00:00:00.000")}
        if t == "AWS::Events::EventBus":
            name = prop("Name", gen)
            return {"Ref": name, "Arn": self.arn("events", f"event-bus/{name}"), "Name": name}
        if t == "AWS::Events::Rule":
            name = prop("Name", gen[:64])
            bus = prop("EventBusName", "default")
            if isinstance(bus, str) and bus.startswith("arn:"):
                bus = bus.split("/")[-1]
            res = f"rule/{name}" if bus in (None, "default") else f"rule/{bus}/{name}"
            return {"Ref": name if bus in (None, "default") else f"{bus}|{name}", "Arn": self.arn("events", res)}
        if t == "AWS::KMS::Key":
            kid = f"{_short_hash(logical_id, 8)}-0000-4000-8000-{_short_hash(logical_id + 'k', 12)}"
            return {"Ref": kid, "Arn": self.arn("kms", f"key/{kid}"), "KeyId": kid}
        if t == "AWS::KMS::Alias":
            return {"Ref": prop("AliasName", f"alias/{gen}")}
        if t == "AWS::SecretsManager::Secret":
            name = prop("Name", gen)
            a = self.arn("secretsmanager", f"secret:{name}-AbCdEf")
            return {"Ref": a, "Id": a}
        if t == "AWS::SNS::Topic":
            name = prop("TopicName", gen)
            a = self.arn("sns", name)
            return {"Ref": a, "TopicArn": a, "TopicName": name}
        if t == "AWS::IAM::Role":
            name = prop("RoleName", gen[:64])
            return {"Ref": name, "Arn": f"arn:aws:iam::{self.account}:role/{name}", "RoleId": "AROA" + _short_hash(name, 16).upper()}
        if t == "AWS::IAM::OIDCProvider":
            url = str(prop("Url", "https://example.com")).replace("https://", "")
            a = f"arn:aws:iam::{self.account}:oidc-provider/{url}"
            return {"Ref": a, "Arn": a}
        if t == "AWS::Logs::LogGroup":
            name = prop("LogGroupName", f"/aws/{gen}")
            return {"Ref": name, "Arn": self.arn("logs", f"log-group:{name}:*")}
        if t == "AWS::S3::Bucket":
            name = prop("BucketName", gen.lower()[:63])
            return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                    "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
                    "WebsiteURL": f"http://{name}.s3-website-{self.region}.amazonaws.com"}
        if t == "AWS::CloudFront::Distribution":
            did = "E" + _short_hash(logical_id, 13).upper()
            return {"Ref": did, "Id": did, "DomainName": f"d{_short_hash(logical_id, 13)}.cloudfront.net"}
        if t == "AWS::Cognito::UserPool":
            pid = f"{self.region}_{_short_hash(logical_id, 9)}"
            return {"Ref": pid, "Arn": self.arn("cognito-idp", f"userpool/{pid}"), "UserPoolId": pid,
                    "ProviderName": f"cognito-idp.{self.region}.amazonaws.com/{pid}",
                    "ProviderURL": f"https://cognito-idp.{self.region}.amazonaws.com/{pid}"}
        if t == "AWS::Cognito::UserPoolClient":
            cid = _short_hash(logical_id, 26)
            return {"Ref": cid, "ClientId": cid, "Name": prop("ClientName", cid)}
        if t == "AWS::Cognito::UserPoolIdentityProvider":
            return {"Ref": prop("ProviderName", logical_id)}
        if t == "AWS::Cognito::UserPoolDomain":
            return {"Ref": prop("Domain", gen), "CloudFrontDistribution": "d111111abcdef8.cloudfront.net"}
        if t == "AWS::ApiGatewayV2::Api":
            aid = _short_hash(logical_id, 10)
            return {"Ref": aid, "ApiId": aid, "ApiEndpoint": f"https://{aid}.execute-api.{self.region}.amazonaws.com"}
        if t.startswith("AWS::ApiGatewayV2::"):
            i = _short_hash(logical_id, 7)
            return {"Ref": i, "AuthorizerId": i, "IntegrationId": i, "RouteId": i, "StageName": prop("StageName", i)}
        if t == "AWS::Scheduler::Schedule":
            name = prop("Name", gen)
            group = prop("GroupName", "default")
            return {"Ref": name, "Arn": self.arn("scheduler", f"schedule/{group}/{name}")}
        if t == "AWS::CloudWatch::Alarm":
            name = prop("AlarmName", gen)
            return {"Ref": name, "Arn": self.arn("cloudwatch", f"alarm:{name}")}
        if t == "AWS::CloudWatch::Dashboard":
            return {"Ref": prop("DashboardName", gen)}
        if t == "AWS::Lambda::LayerVersion":
            return {"Ref": self.arn("lambda", f"layer:{gen}:1")}
        if t == "AWS::Lambda::EventSourceMapping":
            u = f"{_short_hash(logical_id, 8)}-0000-4000-8000-{_short_hash(logical_id, 12)}"
            return {"Ref": u, "Id": u}
        self.unresolved_types.add(t)
        svc = _service_of(t)
        return {"Ref": gen, "Arn": self.arn(svc, f"{t.split('::')[-1].lower()}/{gen}")}

    # ---- resolve -----------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            out = []
            for x in node:
                v = self.resolve(x)
                if v is not NO_VALUE:
                    out.append(v)
            return out
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (k, v), = node.items()
            fn = self._INTRINSICS.get(k)
            if fn is not None:
                return fn(self, v)
        out = {}
        for k, v in node.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def _ref(self, v: Any) -> Any:
        return self.ref(v)

    def _getatt(self, v: Any) -> Any:
        if isinstance(v, str):
            lid, attr = v.split(".", 1)
        else:
            lid, attr = v[0], self.resolve(v[1])
        return self.get_att(lid, attr)

    def _join(self, v: Any) -> Any:
        sep, items = v
        items = self.resolve(items)
        return self.resolve(sep).join(str(i) for i in items)

    def _sub(self, v: Any) -> Any:
        if isinstance(v, str):
            s, vars_ = v, {}
        else:
            s, vars_ = v[0], self.resolve(v[1])

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in vars_:
                return str(vars_[name])
            if "." in name and not name.startswith("AWS::"):
                lid, attr = name.split(".", 1)
                return str(self.get_att(lid, attr))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]*)\}", repl, s)

    def _select(self, v: Any) -> Any:
        idx, items = v
        return self.resolve(items)[int(self.resolve(idx))]

    def _split(self, v: Any) -> Any:
        sep, s = v
        return str(self.resolve(s)).split(self.resolve(sep))

    def _if(self, v: Any) -> Any:
        cond, a, b = v
        return self.resolve(a if self.condition(cond) else b)

    def _getazs(self, v: Any) -> Any:
        region = self.resolve(v) or self.region
        return [f"{region}{s}" for s in "abcdef"]

    def _base64(self, v: Any) -> Any:
        import base64

        return base64.b64encode(str(self.resolve(v)).encode()).decode()

    def _find_in_map(self, v: Any) -> Any:
        m, k1, k2 = (self.resolve(x) for x in v)
        return self.doc["Mappings"][m][k1][k2]

    def _to_json_string(self, v: Any) -> Any:
        return json.dumps(self.resolve(v), separators=(",", ":"))

    def _import_value(self, v: Any) -> Any:
        name = self.resolve(v)
        log.debug("Fn::ImportValue %s: not emulated", name)
        return f"imported-{name}"

    def _fn_equals(self, v: Any) -> Any:
        return self._eval_condition({"Fn::Equals": v})

    def _fn_not(self, v: Any) -> Any:
        return self._eval_condition({"Fn::Not": v})

    def _fn_and(self, v: Any) -> Any:
        return self._eval_condition({"Fn::And": v})

    def _fn_or(self, v: Any) -> Any:
        return self._eval_condition({"Fn::Or": v})

    _INTRINSICS: dict[str, Callable[["Template", Any], Any]] = {
        "Ref": _ref,
        "Fn::GetAtt": _getatt,
        "Fn::Join": _join,
        "Fn::Sub": _sub,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::GetAZs": _getazs,
        "Fn::Base64": _base64,
        "Fn::FindInMap": _find_in_map,
        "Fn::ToJsonString": _to_json_string,
        "Fn::ImportValue": _import_value,
        "Fn::Equals": _fn_equals,
        "Fn::Not": _fn_not,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
    }

    # ---- outputs -----------------------------------------------------------------------------
    def outputs(self) -> dict[str, Any]:
        out = {}
        for name, o in self.doc.get("Outputs", {}).items():
            c = o.get("Condition")
            if c is not None and not self.condition(c):
                continue
            out[name] = self.resolve(o["Value"])
        return out
