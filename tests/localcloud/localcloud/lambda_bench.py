"""Lambda size and cold start, per function (issue 15, item 5; scripts/bench-lambdas.sh):

  * zip MB: the arm64 `bootstrap` (target/lambda/<fn>/, what the CDK stack zips and deploys)
    deflated into a zip, in MB of 10^6 bytes;
  * init ms: from spawning the x86_64 binary (deploy profile) to its first Runtime API `next` request,
    under the local cloud's Runtime API emulator (runtime.LambdaFunction.cold_start), with the
    environment the synthesized template gives the function; the median of several cold starts.

    python -m localcloud.lambda_bench --template T --binaries target/deploy \\
        --lambda-dir target/lambda --out target/bench/lambdas.json

Nothing may reach AWS before `next`: AWS_ENDPOINT_URL points at a closed local port, so a call
made at init fails the cold start (reported as an error) instead of waiting on a network.
Secrets come from the emulator's Parameters and Secrets extension, as on Lambda, with the
template's placeholders filled in. Goals: docs/decisions/1020-lambda-size-and-cold-start.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .runtime import FunctionError, LambdaFunction
from .template import Template

FUNCTIONS = ("ingest", "normalizer", "scorer", "classifier", "notifier", "digest", "slack", "stripe", "api")
ZIP_GOAL_MB = 5.0
INIT_GOAL_MS = 20.0
PLACEHOLDER = "REPLACE_ME"


@dataclass
class FunctionResult:
    name: str
    zip_bytes: int | None = None
    init_ms_runs: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def zip_mb(self) -> float | None:
        return None if self.zip_bytes is None else self.zip_bytes / 1e6

    @property
    def init_ms(self) -> float | None:
        return statistics.median(self.init_ms_runs) if self.init_ms_runs else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(zip_mb=_round(self.zip_mb, 3), init_ms=_round(self.init_ms, 2),
                   zip_met=met(self.zip_mb, ZIP_GOAL_MB), init_met=met(self.init_ms, INIT_GOAL_MS))
        out["init_ms_runs"] = [round(x, 2) for x in self.init_ms_runs]
        return out


def _round(x: float | None, n: int) -> float | None:
    return None if x is None else round(x, n)


def met(value: float | None, goal: float) -> bool | None:
    """Whether a figure is within its goal (at most the goal); None when it was not measured."""
    return None if value is None else value <= goal


def zip_bootstrap(bootstrap: Path, out: Path) -> int:
    """Zips `bootstrap` as the deployment package holds it (one entry, bootstrap, deflated at
    zlib's default level, its executable mode kept) and returns the zip's size in bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(bootstrap, "bootstrap")
    return out.stat().st_size


# ---- the function's environment, from the synthesized template --------------------------------
def function_resources(template: Template, prefix: str) -> dict[str, str]:
    """{short name: logical id} of the template's functions named `<prefix><short name>`."""
    found: dict[str, str] = {}
    for lid, _ in template.of_type("AWS::Lambda::Function"):
        name = str(template.ref(lid))
        if name.startswith(prefix):
            found[name[len(prefix):]] = lid
    return found


def template_environment(template: Template, logical_id: str) -> dict[str, str]:
    props = template.props(logical_id)
    variables = (props.get("Environment") or {}).get("Variables") or {}
    return {k: str(v) for k, v in variables.items()}


def secret_value(template: Template, secret_id: str) -> dict[str, Any]:
    """What the secrets extension answers for one of the template's secrets: its JSON value with
    every placeholder filled in (the values need only pass the functions' checks; webhook
    secrets have Stripe's whsec_ prefix). KeyError for a secret the template does not create."""
    for lid, _ in template.of_type("AWS::SecretsManager::Secret"):
        arn = template.ref(lid)
        props = template.props(lid)
        if secret_id not in (arn, props.get("Name"), lid):
            continue
        raw = props.get("SecretString") or (props.get("GenerateSecretString") or {}).get("SecretStringTemplate") or "{}"
        values = json.loads(raw) if isinstance(raw, str) else dict(raw)
        for key, v in list(values.items()):
            if v == PLACEHOLDER:
                values[key] = ("whsec_" if key == "webhook_secret" else "bench-") + "0123456789abcdef"
        return {"ARN": arn, "Name": props.get("Name") or lid, "SecretString": json.dumps(values),
                "VersionStages": ["AWSCURRENT"]}
    raise KeyError(secret_id)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_init(template: Template, prefix: str, name: str, binary: Path, runs: int, log_dir: Path) -> list[float]:
    """`runs` cold starts of `binary` as the template's function `<prefix><name>`: each init in ms."""
    lid = function_resources(template, prefix)[name]
    props = template.props(lid)
    dead_end = f"http://127.0.0.1:{closed_port()}"
    fn = LambdaFunction(
        name=prefix + name,
        logical_id=lid,
        binary=binary,
        arn=str(template.get_att(lid, "Arn")),
        template_env=template_environment(template, lid),
        extra_env={
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": template.region,
            "AWS_DEFAULT_REGION": template.region,
            "AWS_ENDPOINT_URL": dead_end,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": dead_end,
            # No profile files, no instance metadata: Lambda has neither.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "_HANDLER": str(props.get("Handler", "bootstrap")),
        },
        timeout_s=int(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
        log_path=log_dir / f"{name}.log",
        get_secret=lambda sid: secret_value(template, sid),
        max_concurrency=1,
    )
    try:
        return [fn.cold_start() * 1000 for _ in range(runs)]
    finally:
        fn.close()


# ---- report ------------------------------------------------------------------------------------
def verdict(ok: bool | None) -> str:
    return {True: "MET", False: "MISSED", None: "-"}[ok]


def render(results: list[FunctionResult], runs: int) -> str:
    lines = [
        f"Lambda size and cold start: arm64 zip; init = spawn to first `next`, x86_64 deploy build, median of {runs}",
        f"  {'function':<11} {'zip MB':>7} {f'<= {ZIP_GOAL_MB:g} MB':>9} {'init ms':>8} {f'<= {INIT_GOAL_MS:g} ms':>9}",
    ]
    for r in results:
        zip_mb = "-" if r.zip_mb is None else f"{r.zip_mb:.2f}"
        init_ms = "-" if r.init_ms is None else f"{r.init_ms:.1f}"
        lines.append(f"  {r.name:<11} {zip_mb:>7} {verdict(met(r.zip_mb, ZIP_GOAL_MB)):>9} "
                     f"{init_ms:>8} {verdict(met(r.init_ms, INIT_GOAL_MS)):>9}")
    for r in results:
        if r.error:
            lines.append(f"  {r.name}: {r.error}")
    return "\n".join(lines)


def report_json(results: list[FunctionResult], runs: int) -> dict[str, Any]:
    return {
        "goals": {"zip_mb": ZIP_GOAL_MB, "init_ms": INIT_GOAL_MS},
        "runs": runs,
        "zip": "arm64 bootstrap (deploy profile), deflated; MB = 10^6 bytes",
        "init": "x86_64 binary (deploy profile) under the Runtime API emulator: spawn to first GET .../invocation/next",
        "functions": [r.to_json() for r in results],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcloud.lambda_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", type=Path, required=True, help="synthesized <stack>.template.json")
    ap.add_argument("--binaries", type=Path, required=True, help="x86_64 binaries of the deploy profile: <dir>/<function>")
    ap.add_argument("--lambda-dir", type=Path, help="arm64 builds: <dir>/<function>/bootstrap (no sizes without it)")
    ap.add_argument("--zips", type=Path, help="where the zips are written (default: a temporary folder)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--out", type=Path, help="the report as JSON")
    args = ap.parse_args(argv)
    # The emulator starts each process in its log folder: relative paths would not resolve there.
    args.binaries = args.binaries.resolve()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")

    stack = args.template.name.removesuffix(".template.json")
    template = Template(json.loads(args.template.read_text()), stack)
    prefix = stack + "-"
    names = [n for n in args.functions.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        zips = args.zips or Path(tmp)
        log_dir = (args.out.parent if args.out else Path(tmp)) / "lambda-logs"
        results = []
        for name in names:
            r = FunctionResult(name)
            results.append(r)
            errors = []
            if args.lambda_dir is not None:
                try:
                    r.zip_bytes = zip_bootstrap(args.lambda_dir / name / "bootstrap", zips / f"{name}.zip")
                except OSError as e:
                    errors.append(f"zip: {e}")
            try:
                r.init_ms_runs = measure_init(template, prefix, name, args.binaries / name, args.runs, log_dir)
            except (FunctionError, OSError, KeyError) as e:
                errors.append(f"{type(e).__name__}: {e}")
            r.error = "; ".join(errors) or None
            print(f"  {name}: measured{' (with errors)' if r.error else ''}", file=sys.stderr)
    print(render(results, args.runs))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report_json(results, args.runs), indent=2) + "\n")
        print(f"  written to {args.out}")
    # A missed goal is a figure to act on; a function that cannot start is a failure.
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
