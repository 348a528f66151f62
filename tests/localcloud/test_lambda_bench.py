"""The Lambda size and cold-start bench's own logic (localcloud/lambda_bench.py and
LambdaFunction.cold_start): measured on the Python stand-in function, no release build needed."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from localcloud.cloud import stub_command
from localcloud.lambda_bench import (
    FunctionResult,
    function_resources,
    main,
    met,
    render,
    report_json,
    secret_value,
    template_environment,
    zip_bootstrap,
)
from localcloud.runtime import InitError, LambdaFunction
from localcloud.template import Template

TEMPLATE = {
    "Resources": {
        "IngestQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "dd0c-t-ingest.fifo", "FifoQueue": True}},
        "StripeSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"Name": "dd0c-t/stripe",
                           "SecretString": json.dumps({"api_key": "REPLACE_ME", "webhook_secret": "REPLACE_ME", "kept": "x"})},
        },
        "IngestFn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "dd0c-t-ingest",
                "Handler": "bootstrap",
                "Environment": {"Variables": {"QUEUE_URL_INGEST": {"Ref": "IngestQueue"},
                                              "STRIPE_SECRET_ARN": {"Ref": "StripeSecret"}, "DD0C_ENV": "t"}},
            },
        },
        "OtherFn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "custom-resource-handler"}},
    }
}


def template() -> Template:
    return Template(json.loads(json.dumps(TEMPLATE)), "dd0c-t")


def test_functions_and_their_environment_come_from_the_template():
    t = template()
    found = function_resources(t, "dd0c-t-")
    assert found == {"ingest": "IngestFn"}
    env = template_environment(t, found["ingest"])
    assert env["QUEUE_URL_INGEST"].endswith("/dd0c-t-ingest.fifo")
    assert env["STRIPE_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert env["DD0C_ENV"] == "t"


def test_a_secret_is_answered_with_its_placeholders_filled():
    t = template()
    arn = template_environment(t, "IngestFn")["STRIPE_SECRET_ARN"]
    answer = secret_value(t, arn)
    values = json.loads(answer["SecretString"])
    assert values["webhook_secret"].startswith("whsec_")
    assert values["api_key"] != "REPLACE_ME" and values["kept"] == "x"
    with pytest.raises(KeyError):
        secret_value(t, "arn:aws:secretsmanager:us-east-1:111111111111:secret:nope")


def test_the_zip_holds_one_executable_bootstrap(tmp_path: Path):
    binary = tmp_path / "bootstrap"
    binary.write_bytes(b"\x7fELF" + bytes(200_000))
    binary.chmod(0o755)
    size = zip_bootstrap(binary, tmp_path / "z" / "ingest.zip")
    assert size == (tmp_path / "z" / "ingest.zip").stat().st_size
    assert size < 10_000  # zeros deflate: the size is the compressed one
    with zipfile.ZipFile(tmp_path / "z" / "ingest.zip") as z:
        (info,) = z.infolist()
        assert info.filename == "bootstrap"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert (info.external_attr >> 16) & 0o111, "bootstrap must stay executable"


def test_goals_are_inclusive_and_the_median_is_reported():
    assert met(5.0, 5.0) is True and met(5.001, 5.0) is False and met(None, 5.0) is None
    r = FunctionResult("scorer", zip_bytes=5_000_000, init_ms_runs=[30.0, 4.0, 5.0, 6.0, 4.5])
    assert r.zip_mb == 5.0 and r.init_ms == 5.0
    slow = FunctionResult("api", zip_bytes=5_000_001, init_ms_runs=[21.0, 20.5, 25.0])
    broken = FunctionResult("slack", error="InitError: boom")
    table = render([r, slow, broken], 5)
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.startswith("  ") and ":" not in line}
    assert rows["scorer"] == ["scorer", "5.00", "MET", "5.0", "MET"]
    assert rows["api"] == ["api", "5.00", "MISSED", "21.0", "MISSED"]
    assert rows["slack"] == ["slack", "-", "-", "-", "-"]
    assert "slack: InitError: boom" in table
    report = report_json([r, slow], 5)
    assert report["goals"] == {"zip_mb": 5.0, "init_ms": 20.0}
    assert [(f["name"], f["zip_met"], f["init_met"], f["init_ms"]) for f in report["functions"]] == [
        ("scorer", True, True, 5.0), ("api", False, False, 21.0)]


def _stub_fn(tmp_path: Path, *command: str) -> LambdaFunction:
    fn = LambdaFunction(name="dd0c-t-stub", logical_id="StubFn", binary=Path(sys.executable),
                        arn="arn:aws:lambda:us-east-1:111111111111:function:dd0c-t-stub", template_env={},
                        extra_env={}, timeout_s=3, memory_mb=128, log_path=tmp_path / "stub.log",
                        get_secret=lambda sid: {}, max_concurrency=1)
    fn.command = list(command)
    return fn


def test_cold_start_measures_spawn_to_the_first_next(tmp_path: Path):
    fn = _stub_fn(tmp_path, *stub_command("slow-init", "0.3"))
    try:
        first, second = fn.cold_start(), fn.cold_start()
    finally:
        fn.close()
    for init in (first, second):
        # The stub sleeps 0.3 s before asking; Python's own start-up comes on top.
        assert 0.3 <= init < 3.0
    assert fn.cold_starts == 2
    assert not any(e.running() for e in fn.environments), "each measured process is ended"


@pytest.mark.parametrize("mode,error_type", [("init-error", "Runtime.StubInit"), ("exit", "Runtime.ExitError")])
def test_a_function_that_cannot_start_is_an_init_error(tmp_path: Path, mode: str, error_type: str):
    fn = _stub_fn(tmp_path, *stub_command(mode))
    try:
        with pytest.raises(InitError) as e:
            fn.cold_start(timeout_s=10)
    finally:
        fn.close()
    assert e.value.error_type == error_type


def test_the_command_reports_a_function_that_cannot_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "dd0c-t.template.json"
    path.write_text(json.dumps(TEMPLATE))
    out = tmp_path / "bench" / "lambdas.json"
    # No binary in --binaries: the function fails to start, the others would still be measured.
    code = main(["--template", str(path), "--binaries", str(tmp_path / "none"), "--functions", "ingest",
                 "--runs", "2", "--out", str(out)])
    assert code == 1
    report = json.loads(out.read_text())
    (ingest,) = report["functions"]
    assert ingest["name"] == "ingest" and ingest["init_ms"] is None and "InvalidEntrypoint" in ingest["error"]
    assert "ingest: InitError" in capsys.readouterr().out
