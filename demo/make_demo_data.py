#!/usr/bin/env python3
"""Writes demo/data/crypto-mining-burst.jsonl: synthetic but realistically shaped
EventBridge "AWS API Call via CloudTrail" envelopes (fake account 111122223333, documentation
IP ranges). Deterministic: running it again produces the same file.

Story: a week of ordinary Terraform deploys of small instances in us-east-1, then a leaked
CI access key launches batches of GPU instances in ap-south-1 from an unknown IP.
"""
import json
from datetime import datetime, timedelta, timezone

ACCOUNT = "111122223333"


def envelope(n, record):
    return {
        "version": "0",
        "id": f"7bf73129-1428-4cd3-a780-95db273d{n:04d}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def run_instances(n, when, region, itype, count, identity, ua, ip, console=False):
    ids = [f"i-0{n:05d}{k:02d}abcdef{k:01d}" for k in range(count)]
    record = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": count, "maxCount": count}]},
            "instanceType": itype,
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
        },
        "responseElements": {
            "requestId": f"5c6a1f3e-0000-4000-8000-{n:012d}",
            "reservationId": f"r-0{n:016x}",
            "ownerId": ACCOUNT,
            "groupSet": {},
            "instancesSet": {
                "items": [
                    {
                        "instanceId": i,
                        "imageId": "ami-0abcdef1234567890",
                        "instanceState": {"code": 0, "name": "pending"},
                        "instanceType": itype,
                        "placement": {"availabilityZone": region + "a", "tenancy": "default"},
                        "architecture": "x86_64",
                    }
                    for i in ids
                ]
            },
        },
        "requestID": f"5c6a1f3e-0000-4000-8000-{n:012d}",
        "eventID": f"d7a1c2b3-0000-4000-9000-{n:012d}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    if console:
        record["sessionCredentialFromConsole"] = "true"
    return record


terraform = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEDEPLOYER:terraform",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/terraform-deployer/terraform",
    "accountId": ACCOUNT,
    "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/terraform-deployer", "userName": "terraform-deployer"}},
}
TF_UA = "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 aws-sdk-go-v2/1.25.2"
leaked = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLECIUSER0001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deploy",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAEXAMPLECIKEY0001",
    "userName": "ci-deploy",
}

start = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
lines = []
n = 0
for day in range(7):
    for k in range(2):
        n += 1
        lines.append(envelope(n, run_instances(n, start + timedelta(days=day, hours=3 * k), "us-east-1", "t3.small", 1, terraform, TF_UA, "198.51.100.10")))
burst = start + timedelta(days=9, hours=2, minutes=17)
for k in range(4):
    n += 1
    lines.append(envelope(n, run_instances(n, burst + timedelta(seconds=40 * k), "ap-south-1", "p3.16xlarge", 8, leaked, "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15 md/arch#x86_64 lang/python#3.11.6", "203.0.113.66")))

with open("data/crypto-mining-burst.jsonl", "w") as f:
    for line in lines:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")
print(f"wrote {len(lines)} events")
