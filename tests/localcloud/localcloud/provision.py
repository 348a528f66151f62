"""Creates the template's resources in moto through boto3 (in dependency order) and records the
rest (what moto cannot or need not run: rules, routes, schedules, alarms, functions...).

Every Ref / Fn::GetAtt the later resources and the functions' environments use comes from
what moto answered here (queue URLs, key ids, secret ARNs, pool and client ids).
"""
from __future__ import annotations

import json
import logging
import secrets as pysecrets
import string
from collections import defaultdict
from typing import Any

from .template import Template

log = logging.getLogger("localcloud.provision")

# Resource types that are only recorded: the local cloud emulates them itself (or not at all).
RECORDED = {
    "AWS::Lambda::Function",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Permission",
    "AWS::Events::EventBus",
    "AWS::Events::EventBusPolicy",
    "AWS::Events::Rule",
    "AWS::Scheduler::Schedule",
    "AWS::CloudWatch::Alarm",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Cognito::UserPoolDomain",
}


class Provisioner:
    def __init__(self, template: Template, clients: dict[str, Any]) -> None:
        self.t = template
        self.c = clients
        self.by_type: dict[str, list[str]] = defaultdict(list)
        self.props: dict[str, dict[str, Any]] = {}
        self.not_emulated: dict[str, list[str]] = defaultdict(list)

    def run(self) -> None:
        for lid in self.t.creation_order():
            rtype = self.t.resources[lid]["Type"]
            self.by_type[rtype].append(lid)
            handler = getattr(self, "_" + rtype.replace("::", "_").replace("AWS_", "", 1), None)
            if handler is None:
                self.not_emulated[rtype].append(lid)
                continue
            props = self.t.props(lid)
            self.props[lid] = props
            try:
                handler(lid, props)
            except Exception as e:
                raise RuntimeError(f"localcloud: provisioning {lid} ({rtype}) failed: {e}") from e
        for rtype, ids in sorted(self.not_emulated.items()):
            log.debug("not emulated (plausible Ref/GetAtt only): %s x%d", rtype, len(ids))
        for rtype in RECORDED:
            for lid in self.by_type.get(rtype, []):
                self.props.setdefault(lid, self.t.props(lid))

    def record(self, lid: str) -> dict[str, Any]:
        return self.props[lid]

    def ids(self, rtype: str) -> list[str]:
        return list(self.by_type.get(rtype, []))

    # ---- handlers (name: _<Service>_<Type>) --------------------------------------------------
    def _recorded(self, lid: str, props: dict[str, Any]) -> None:
        pass

    _Lambda_Function = _recorded
    _Lambda_EventSourceMapping = _recorded
    _Lambda_EventInvokeConfig = _recorded
    _Lambda_Permission = _recorded
    _Events_EventBus = _recorded
    _Events_EventBusPolicy = _recorded
    _Events_Rule = _recorded
    _Scheduler_Schedule = _recorded
    _CloudWatch_Alarm = _recorded
    _ApiGatewayV2_Api = _recorded
    _ApiGatewayV2_Route = _recorded
    _ApiGatewayV2_Authorizer = _recorded
    _ApiGatewayV2_Integration = _recorded
    _ApiGatewayV2_Stage = _recorded

    def _DynamoDB_Table(self, lid: str, p: dict[str, Any]) -> None:
        ddb = self.c["dynamodb"]
        name = p.get("TableName") or self.t.ref(lid)
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = p.get("ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(key):
                args[key] = p[key]
        if p.get("StreamSpecification"):
            args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        desc = ddb.create_table(**args)["TableDescription"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True})
        self.t.refs[lid] = name
        self.t.attrs[lid] = {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}

    def _SQS_Queue(self, lid: str, p: dict[str, Any]) -> None:
        sqs = self.c["sqs"]
        name = p.get("QueueName") or self.t.get_att(lid, "QueueName")
        attrs: dict[str, str] = {}
        for key in ("FifoQueue", "ContentBasedDeduplication"):
            if key in p:
                attrs[key] = "true" if str(p[key]).lower() == "true" else "false"
        if attrs.get("FifoQueue") == "false":
            del attrs["FifoQueue"]
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                    "ReceiveMessageWaitTimeSeconds", "DeduplicationScope", "FifoThroughputLimit"):
            if key in p:
                attrs[key] = str(p[key])
        if "RedrivePolicy" in p:
            rp = p["RedrivePolicy"]
            attrs["RedrivePolicy"] = json.dumps(rp if isinstance(rp, dict) else json.loads(rp))
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.t.refs[lid] = url
        self.t.attrs[lid] = {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _Kinesis_Stream(self, lid: str, p: dict[str, Any]) -> None:
        kinesis = self.c["kinesis"]
        name = p.get("Name") or self.t.ref(lid)
        kinesis.create_stream(StreamName=name, ShardCount=int(p.get("ShardCount", 1)))
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        self.t.refs[lid] = name
        self.t.attrs[lid] = {"Arn": arn}

    def _KMS_Key(self, lid: str, p: dict[str, Any]) -> None:
        kms = self.c["kms"]
        args: dict[str, Any] = {}
        if p.get("Description"):
            args["Description"] = p["Description"]
        if p.get("KeyUsage"):
            args["KeyUsage"] = p["KeyUsage"]
        if p.get("KeySpec"):
            args["KeySpec"] = p["KeySpec"]
        md = kms.create_key(**args)["KeyMetadata"]
        if p.get("EnableKeyRotation"):
            try:
                kms.enable_key_rotation(KeyId=md["KeyId"])
            except Exception as e:  # noqa: BLE001
                log.debug("enable_key_rotation: %s", e)
        self.t.refs[lid] = md["KeyId"]
        self.t.attrs[lid] = {"Arn": md["Arn"], "KeyId": md["KeyId"]}

    def _KMS_Alias(self, lid: str, p: dict[str, Any]) -> None:
        target = str(p["TargetKeyId"]).split("/")[-1]
        self.c["kms"].create_alias(AliasName=p["AliasName"], TargetKeyId=target)
        self.t.refs[lid] = p["AliasName"]

    def _SecretsManager_Secret(self, lid: str, p: dict[str, Any]) -> None:
        sm = self.c["secretsmanager"]
        name = p.get("Name") or self.t.ref(lid).split(":")[-1].rsplit("-", 1)[0]
        if "SecretString" in p:
            value = p["SecretString"]
        elif "GenerateSecretString" in p:
            value = generate_secret_string(p["GenerateSecretString"])
        else:
            value = generate_secret_string({})
        args = {"Name": name, "SecretString": value}
        if p.get("Description"):
            args["Description"] = p["Description"]
        arn = sm.create_secret(**args)["ARN"]
        self.t.refs[lid] = arn
        self.t.attrs[lid] = {"Id": arn}

    def _SNS_Topic(self, lid: str, p: dict[str, Any]) -> None:
        name = p.get("TopicName") or self.t.get_att(lid, "TopicName")
        arn = self.c["sns"].create_topic(Name=name)["TopicArn"]
        self.t.refs[lid] = arn
        self.t.attrs[lid] = {"TopicArn": arn, "TopicName": name}

    def _Cognito_UserPool(self, lid: str, p: dict[str, Any]) -> None:
        idp = self.c["cognito-idp"]
        args: dict[str, Any] = {"PoolName": p.get("UserPoolName") or lid}
        for key in ("Policies", "AutoVerifiedAttributes", "UsernameAttributes", "AliasAttributes",
                    "AdminCreateUserConfig", "AccountRecoverySetting", "UserPoolTags", "DeletionProtection",
                    "VerificationMessageTemplate", "EmailVerificationMessage", "EmailVerificationSubject",
                    "UsernameConfiguration", "UserAttributeUpdateSettings"):
            if key in p:
                args[key] = p[key]
        if p.get("MfaConfiguration") == "OFF":
            args["MfaConfiguration"] = "OFF"
        if p.get("Schema"):
            args["Schema"] = [{"AttributeDataType": "String", **s} for s in p["Schema"]]
        pool = idp.create_user_pool(**args)["UserPool"]
        pid = pool["Id"]
        self.t.refs[lid] = pid
        self.t.attrs[lid] = {
            "Arn": pool["Arn"],
            "UserPoolId": pid,
            "ProviderName": f"cognito-idp.{self.t.region}.amazonaws.com/{pid}",
            "ProviderURL": f"https://cognito-idp.{self.t.region}.amazonaws.com/{pid}",
        }

    def _Cognito_UserPoolClient(self, lid: str, p: dict[str, Any]) -> None:
        idp = self.c["cognito-idp"]
        args: dict[str, Any] = {"UserPoolId": p["UserPoolId"], "ClientName": p.get("ClientName") or lid}
        for key in ("GenerateSecret", "ExplicitAuthFlows", "AllowedOAuthFlows", "AllowedOAuthScopes",
                    "AllowedOAuthFlowsUserPoolClient", "CallbackURLs", "LogoutURLs", "SupportedIdentityProviders",
                    "PreventUserExistenceErrors", "AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity",
                    "TokenValidityUnits", "ReadAttributes", "WriteAttributes", "DefaultRedirectURI"):
            if key in p:
                args[key] = p[key]
        client = idp.create_user_pool_client(**args)["UserPoolClient"]
        self.t.refs[lid] = client["ClientId"]
        self.t.attrs[lid] = {"ClientId": client["ClientId"], "Name": client.get("ClientName"),
                             "ClientSecret": client.get("ClientSecret", "")}

    def _Cognito_UserPoolDomain(self, lid: str, p: dict[str, Any]) -> None:
        try:
            self.c["cognito-idp"].create_user_pool_domain(Domain=p["Domain"], UserPoolId=p["UserPoolId"])
        except Exception as e:  # noqa: BLE001
            log.debug("create_user_pool_domain: %s", e)
        self.t.refs[lid] = p["Domain"]


def generate_secret_string(spec: dict[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    alphabet = "".join(ch for ch in alphabet if ch not in spec.get("ExcludeCharacters", "")) or string.ascii_letters
    pw = "".join(pysecrets.choice(alphabet) for _ in range(length))
    if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
        obj = json.loads(spec["SecretStringTemplate"])
        obj[spec["GenerateStringKey"]] = pw
        return json.dumps(obj)
    return pw
