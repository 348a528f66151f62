"""A stand-in function for the local cloud's own tests: a Runtime API client in Python.

    python -m localcloud.stub_function MODE

MODE:
  echo           answer {"event": <event>, "env": {...a few variables}}
  fail           answer every invocation with an error (errorType StubFailure)
  fail-marked    SQS and Kinesis batches: report the records whose body (data) contains FAIL as
                 batchItemFailures
  exit           exit with status 3 before taking an invocation (a crash at init)
  init-error     report an init error through /runtime/init/error, then exit
  slow-init S    sleep S seconds before the first `next` request (an init of known length), then echo
  secret ARN     fetch ARN through the Parameters and Secrets extension and answer its JSON
  allocate MB    hold MB megabytes (written, so resident) and answer {"held_mb": MB}
  sleep [S]      sleep S seconds (or the event's "sleep"), then answer what the concurrency tests
                 measure: {"start", "end" (time.time()), "pid", "api" (AWS_LAMBDA_RUNTIME_API),
                 "bodies" and "groups" of SQS records}
"""
from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = f"http://{API}/2018-06-01/runtime"


def post(path: str, obj: object, headers: dict[str, str] | None = None) -> None:
    req = urllib.request.Request(BASE + path, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    urllib.request.urlopen(req, timeout=10).read()


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "echo"
    if mode == "exit":
        print("stub: crashing at init", file=sys.stderr)
        sys.exit(3)
    if mode == "init-error":
        post("/init/error", {"errorType": "Runtime.StubInit", "errorMessage": "stub: configuration missing"},
             {"Lambda-Runtime-Function-Error-Type": "Runtime.StubInit"})
        sys.exit(1)
    if mode == "slow-init":
        time.sleep(float(sys.argv[2]))
    while True:
        with urllib.request.urlopen(BASE + "/invocation/next", timeout=None) as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read() or b"null")
        if mode == "fail":
            post(f"/invocation/{rid}/error", {"errorType": "StubFailure", "errorMessage": "stub: failing on purpose"},
                 {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
            continue
        if mode == "fail-marked":
            failures = [{"itemIdentifier": rec["messageId"]} for rec in event.get("Records", []) if "FAIL" in rec.get("body", "")]
            failures += [{"itemIdentifier": rec["kinesis"]["sequenceNumber"]} for rec in event.get("Records", [])
                         if "kinesis" in rec and b"FAIL" in base64.b64decode(rec["kinesis"]["data"])]
            post(f"/invocation/{rid}/response", {"batchItemFailures": failures})
            continue
        if mode == "allocate":
            held = bytearray(b"\x01") * (int(sys.argv[2]) * 1024 * 1024)
            post(f"/invocation/{rid}/response", {"held_mb": len(held) // (1024 * 1024)})
            continue
        if mode == "secret":
            port = os.environ["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]
            url = f"http://localhost:{port}/secretsmanager/get?secretId={urllib.request.quote(sys.argv[2], safe='')}"
            req = urllib.request.Request(url, headers={"X-Aws-Parameters-Secrets-Token": os.environ["AWS_SESSION_TOKEN"]})
            with urllib.request.urlopen(req, timeout=10) as s:
                post(f"/invocation/{rid}/response", json.loads(s.read()))
            continue
        if mode == "sleep":
            start = time.time()
            seconds = event.get("sleep") if isinstance(event, dict) and "sleep" in event else None
            time.sleep(float(seconds if seconds is not None else (sys.argv[2] if len(sys.argv) > 2 else 1)))
            records = event.get("Records", []) if isinstance(event, dict) else []
            post(f"/invocation/{rid}/response", {
                "start": start, "end": time.time(), "pid": os.getpid(), "api": API,
                "bodies": [r.get("body") for r in records],
                "groups": [r.get("attributes", {}).get("MessageGroupId") for r in records]})
            continue
        keep = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EVENTBRIDGE", "TABLE_NAME", "EVENT_BUS_NAME")
        post(f"/invocation/{rid}/response", {"event": event, "env": {k: os.environ.get(k) for k in keep}})


if __name__ == "__main__":
    main()
