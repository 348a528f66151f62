"""The ADOT collector extension, as dd0c's functions meet it: OTLP/HTTP with JSON bodies
(`POST <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`, an `ExportTraceServiceRequest`). In AWS the
collector runs beside each function as a Lambda layer and sends the spans on; here one
collector receives every function's spans, so a test can read one CloudTrail event's whole
trace across processes (docs/decisions/0710-traces.md)."""

from __future__ import annotations

import json
from typing import Any

from ._http import FakeServer, Request, Response


class OtelCollectorFake(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.exports: list[dict[str, Any]] = []

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/v1/traces":
            return Response.json({"code": 5, "message": f"no route {request.method} {request.path}"}, 404)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Response.json({"code": 3, "message": "only OTLP/JSON is served here"}, 415)
        try:
            body = json.loads(request.body)
            body["resourceSpans"][0]["scopeSpans"][0]["spans"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return Response.json({"code": 3, "message": f"not an ExportTraceServiceRequest: {e!r}"}, 400)
        with self.lock:
            self.exports.append(body)
        return Response.json({})

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, each with its resource's `service.name` as `service`."""
        out = []
        with self.lock:
            for export in self.exports:
                for resource in export["resourceSpans"]:
                    service = next((a["value"]["stringValue"] for a in resource["resource"]["attributes"]
                                    if a["key"] == "service.name"), "")
                    for scope in resource["scopeSpans"]:
                        out.extend({**span, "service": service} for span in scope["spans"])
        return out

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return sorted((s for s in self.spans() if s["traceId"] == trace_id), key=lambda s: int(s["startTimeUnixNano"]))
