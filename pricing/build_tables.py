#!/usr/bin/env python3
"""Build dd0c's checked-in pricing tables (Python 3.11, standard library only).

Three sub-commands:

  fixtures  Rebuild the generated tables (EC2, RDS, Aurora, regional factors) from the CSV
            sources in ``pricing/sources/`` (their origin and licence: ``pricing/sources/README.md``).
            This is what ``scripts/test-pricing.sh`` runs to prove the committed tables
            are reproducible byte for byte.

  offers    Rebuild tables from AWS Price List *bulk offer files*, the JSON served at
            ``https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<Service>/current/<region>/index.json``
            (``products`` keyed by SKU with ``attributes``; ``terms.OnDemand[sku][offerTermCode]
            .priceDimensions[..].pricePerUnit.USD``). Nothing is downloaded: pass the files.
            Supported: AmazonEC2 (instances and EBS storage/IOPS), AmazonRDS (instances and
            Aurora), AmazonElastiCache, AmazonES (OpenSearch), AmazonRedshift, AmazonSageMaker.

  check     Validate every table in ``pricing/tables/``: valid JSON, provenance recorded
            (``source``, ``stale`` and ``retrieved`` or ``as_of``, for the table or for each
            entry when the table says ``"source": "per entry"``) and every price a finite,
            non-negative number.

The table format is JSON that stays diffable: one top-level key per line, and each entry of a
mapping (``prices``, ``factors`` ...) on its own line, keys sorted.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from typing import Any, Iterable, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCES = os.path.join(HERE, "sources")
DEFAULT_TABLES = os.path.join(HERE, "tables")

EC2_FIXTURE = "ec2_ondemand_us-east-1_linux_karpenter.csv"
RDS_FIXTURE = "rds_ondemand_us-east-1_ec2instancesinfo_2021-08.csv"
REGIONS_SOURCE = "ec2_m5large_by_region.csv"

RDS_ENGINES = ("MariaDB", "MySQL", "PostgreSQL")
AURORA_ENGINES = ("Aurora MySQL", "Aurora PostgreSQL")
BASE_REGION = "us-east-1"
REFERENCE_TYPE = "m5.large"


class SourceError(ValueError):
    """A source file that does not look like what we expect."""


# --------------------------------------------------------------------------- formatting


def dump_table(table: dict[str, Any]) -> str:
    """Serialize a table: one top-level key per line, mapping entries one per line."""
    lines = ["{"]
    items = list(table.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict) and value and _is_mapping_of_entries(value):
            lines.append(f"  {json.dumps(key)}: {{")
            entries = sorted(value.items())
            for j, (k, v) in enumerate(entries):
                ecomma = "," if j < len(entries) - 1 else ""
                lines.append(f"    {json.dumps(k)}: {_compact(v)}{ecomma}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {_compact(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _is_mapping_of_entries(value: dict[str, Any]) -> bool:
    return all(isinstance(v, (int, float, dict)) and not isinstance(v, bool) for v in value.values())


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def _price(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise SourceError(f"{where}: price {text!r} is not a number") from exc
    if not math.isfinite(value) or value < 0:
        raise SourceError(f"{where}: price {text!r} is not a finite non-negative number")
    return value


def write_table(out_dir: str, name: str, table: dict[str, Any]) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(dump_table(table))
    return path


# --------------------------------------------------------------------------- fixtures


def read_csv(path: str, expected_header: list[str]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != expected_header:
            raise SourceError(f"{path}: header {header!r}, expected {expected_header!r}")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise SourceError(f"{path}:{lineno}: {len(row)} fields, expected {len(header)}")
            rows.append(dict(zip(header, row)))
    return rows


def ec2_from_karpenter_csv(path: str) -> dict[str, float]:
    prices: dict[str, float] = {}
    for i, row in enumerate(read_csv(path, ["instance_type", "usd_per_hour"]), start=2):
        itype = row["instance_type"].strip()
        if not itype or "." not in itype:
            raise SourceError(f"{path}:{i}: bad instance type {itype!r}")
        if itype in prices:
            raise SourceError(f"{path}:{i}: duplicate instance type {itype}")
        prices[itype] = _price(row["usd_per_hour"], f"{path}:{i}")
    return prices


def rds_from_ec2instancesinfo_csv(path: str) -> dict[str, dict[str, float]]:
    prices: dict[str, dict[str, float]] = {}
    for i, row in enumerate(read_csv(path, ["instance_class", "engine", "usd_per_hour"]), start=2):
        cls, engine = row["instance_class"].strip(), row["engine"].strip()
        if not cls.startswith("db."):
            raise SourceError(f"{path}:{i}: bad instance class {cls!r}")
        if engine not in RDS_ENGINES + AURORA_ENGINES:
            raise SourceError(f"{path}:{i}: unexpected engine {engine!r}")
        per_engine = prices.setdefault(cls, {})
        if engine in per_engine:
            raise SourceError(f"{path}:{i}: duplicate {cls} {engine}")
        per_engine[engine] = _price(row["usd_per_hour"], f"{path}:{i}")
    return prices


def split_engines(prices: dict[str, dict[str, float]], engines: Iterable[str]) -> dict[str, dict[str, float]]:
    wanted = set(engines)
    out = {}
    for cls, per_engine in prices.items():
        kept = {e: p for e, p in per_engine.items() if e in wanted}
        if kept:
            out[cls] = kept
    return out


def regions_from_csv(path: str) -> tuple[dict[str, float], dict[str, float]]:
    linux: dict[str, float] = {}
    windows: dict[str, float] = {}
    for i, row in enumerate(read_csv(path, ["region", "linux_usd_per_hour", "windows_usd_per_hour"]), start=2):
        region = row["region"].strip()
        if region in linux:
            raise SourceError(f"{path}:{i}: duplicate region {region}")
        linux[region] = _price(row["linux_usd_per_hour"], f"{path}:{i}")
        windows[region] = _price(row["windows_usd_per_hour"], f"{path}:{i}")
        if linux[region] <= 0:
            raise SourceError(f"{path}:{i}: zero reference price for {region}")
    if BASE_REGION not in linux:
        raise SourceError(f"{path}: no row for the base region {BASE_REGION}")
    return linux, windows


def regional_factors(linux: dict[str, float]) -> dict[str, float]:
    base = linux[BASE_REGION]
    return {region: round(price / base, 4) for region, price in linux.items()}


def build_from_fixtures(sources: str) -> dict[str, dict[str, Any]]:
    """All generated tables, keyed by file name."""
    ec2 = ec2_from_karpenter_csv(os.path.join(sources, EC2_FIXTURE))
    rds_all = rds_from_ec2instancesinfo_csv(os.path.join(sources, RDS_FIXTURE))
    rds = split_engines(rds_all, RDS_ENGINES)
    aurora = split_engines(rds_all, AURORA_ENGINES)
    linux, windows = regions_from_csv(os.path.join(sources, REGIONS_SOURCE))

    karpenter = (
        "aws/karpenter-provider-aws pkg/providers/pricing/zz_generated.pricing_aws.go @1d927085 "
        "('generated at 2026-07-20T13:44:30Z for us-east-1' from the AWS Pricing API), "
        "pricing/sources/" + EC2_FIXTURE
    )
    rds_source = (
        "vantage-sh/ec2instances.info www/rds/instances.json @14ede5a5 (2021-08-03; file removed "
        "from the repository in 2022), pricing/sources/" + RDS_FIXTURE
    )
    return {
        "ec2_us-east-1.json": {
            "table": "ec2_ondemand",
            "region": BASE_REGION,
            "unit": "USD per instance-hour",
            "filters": "operatingSystem=Linux, preInstalledSw=NA, capacitystatus=Used, term=OnDemand, "
            "tenancy=Shared (Dedicated for *.metal)",
            "source": karpenter,
            "source_url": "https://github.com/aws/karpenter-provider-aws/blob/1d927085/pkg/providers/pricing/zz_generated.pricing_aws.go",
            "license": "Apache-2.0",
            "as_of": "2026-07-20",
            "retrieved": "2026-07-20",
            "stale": False,
            "count": len(ec2),
            "prices": ec2,
        },
        "rds_us-east-1.json": {
            "table": "rds_ondemand",
            "region": BASE_REGION,
            "unit": "USD per instance-hour, Single-AZ (Multi-AZ doubles the instance)",
            "engines": list(RDS_ENGINES),
            "source": rds_source,
            "source_url": "https://github.com/vantage-sh/ec2instances.info/blob/14ede5a5/www/rds/instances.json",
            "license": "MIT",
            "as_of": "2021-08-03",
            "retrieved": "2021-08-03",
            "stale": True,
            "stale_reason": "RDS prices from August 2021; spot-checked 2026-11-22 against infracost's "
            "golden test (db.t3.large MySQL 0.136, PostgreSQL 0.145, db.m5.large MySQL 0.171: unchanged) "
            "but not re-read from AWS",
            "count": len(rds),
            "prices": rds,
        },
        "aurora_us-east-1.json": {
            "table": "aurora_ondemand",
            "region": BASE_REGION,
            "unit": "USD per instance-hour (Aurora Standard; storage and I/O billed separately)",
            "engines": list(AURORA_ENGINES),
            "source": rds_source,
            "source_url": "https://github.com/vantage-sh/ec2instances.info/blob/14ede5a5/www/rds/instances.json",
            "license": "MIT",
            "as_of": "2021-08-03",
            "retrieved": "2021-08-03",
            "stale": True,
            "stale_reason": "Aurora prices from August 2021; spot-checked 2026-11-22 against infracost's "
            "golden test (Aurora db.t3.small 0.041, Aurora PostgreSQL db.t3.large 0.164: unchanged)",
            "count": len(aurora),
            "prices": aurora,
        },
        "regions.json": {
            "table": "regional_factors",
            "base_region": BASE_REGION,
            "method": f"factor = {REFERENCE_TYPE} Linux on-demand price in the region / price in {BASE_REGION}, "
            "rounded to 4 decimals; applied to every us-east-1 list price as an approximation "
            "(real regional ratios differ by service and family by a few percent)",
            "source": "vantage-sh/ec2instances.info www/m5.large.html @136b6119 (_prices object, built from "
            "the AWS price list), transcribed to pricing/sources/" + REGIONS_SOURCE,
            "source_url": "https://github.com/vantage-sh/ec2instances.info/blob/136b6119d544e5249b39256c1d2871af2952903a/www/m5.large.html",
            "license": "MIT",
            "as_of": "2022 (undated page; it lists ap-southeast-3 and uses bootstrap 5.2.0-beta1)",
            "retrieved": "2026-11-22",
            "stale": True,
            "stale_reason": "regional ratios taken from prices of about 2022",
            "count": len(linux),
            "reference_prices": linux,
            "reference_windows_prices": windows,
            "factors": regional_factors(linux),
        },
    }


# --------------------------------------------------------------------------- offers


class _JsonStream:
    """A JSON document read from a file a piece at a time, so that a multi-gigabyte offer file
    (AmazonEC2's us-east-1 index) is never held in memory: objects are walked member by member
    and only the values a caller keeps are built."""

    def __init__(self, fh: Any, where: str, chunk: int = 1 << 20) -> None:
        self.fh, self.where, self.chunk = fh, where, chunk
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.fh.read(self.chunk)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                raise SourceError(f"{self.where}: the JSON ends too early")

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise SourceError(f"{self.where}: expected {char!r}, found {self.buf[self.pos]!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next value, whole (for values that are small)."""
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise SourceError(f"{self.where}: not valid JSON ({exc})") from exc
            # A number or literal that ends the buffer may continue in the next piece.
            if end == len(self.buf) and not isinstance(value, (dict, list, str)) and self._fill():
                continue
            self.pos = end
            return value

    def members(self) -> Iterator[str]:
        """The keys of the next object, one by one; the caller consumes each key's value
        (``value``, ``members`` or ``skip``) before asking for the next key."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise SourceError(f"{self.where}: an object key is not a string")
            self.expect(":")
            yield key
            char = self.peek()
            self.pos += 1
            if char == "}":
                return
            if char != ",":
                raise SourceError(f"{self.where}: expected ',' or '}}', found {char!r}")

    def skip(self) -> None:
        """Passes over the next value without building it whole."""
        if self.peek() == "{":
            for _ in self.members():
                self.skip()
        else:
            self.value()


def load_offer(path: str, keep: Any = None, chunk: int = 1 << 20) -> dict[str, Any]:
    """An offer file's ``products`` (those ``keep(product)`` accepts; all without ``keep``) and
    their ``terms.OnDemand``, read as a stream: other term types (Reserved, the bulk of the
    file) are skipped and never built."""
    products: dict[str, Any] = {}
    ondemand: dict[str, Any] = {}
    seen = set()
    with open(path, encoding="utf-8") as fh:
        stream = _JsonStream(fh, path, chunk)
        if stream.peek() != "{":
            raise SourceError(f"{path}: not an AWS Price List offer file (not a JSON object)")
        for key in stream.members():
            if key == "products" and stream.peek() == "{":
                seen.add(key)
                for sku in stream.members():
                    product = stream.value()
                    if keep is None or keep(product):
                        products[sku] = product
            elif key == "terms" and stream.peek() == "{":
                seen.add(key)
                for term_type in stream.members():
                    if term_type != "OnDemand":
                        stream.skip()
                        continue
                    for sku in stream.members():
                        ondemand[sku] = stream.value()
            else:
                stream.skip()
    if seen != {"products", "terms"}:
        raise SourceError(f"{path}: not an AWS Price List offer file (no products/terms)")
    return {
        "products": products,
        "terms": {"OnDemand": {sku: t for sku, t in ondemand.items() if sku in products}},
    }


def ondemand_dimensions(offer: dict[str, Any], sku: str) -> list[dict[str, Any]]:
    dims: list[dict[str, Any]] = []
    for term in offer["terms"].get("OnDemand", {}).get(sku, {}).values():
        dims.extend(term.get("priceDimensions", {}).values())
    return dims


def iter_ondemand(offer: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, str], float, dict[str, Any]]]:
    """Yield (sku, product, attributes, usd, dimension) for each OnDemand price dimension."""
    for sku, product in offer["products"].items():
        attrs = product.get("attributes", {})
        for dim in ondemand_dimensions(offer, sku):
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is None:
                continue
            yield sku, product, attrs, _price(usd, f"sku {sku}"), dim


def _first_tier(dim: dict[str, Any]) -> bool:
    return str(dim.get("beginRange", "0")) in ("0", "0.0")


def _ieq(a: str | None, b: str) -> bool:
    return (a or "").lower() == b.lower()


def _keep_lowest(out: dict[str, float], key: str, usd: float) -> None:
    if key not in out or usd < out[key]:
        out[key] = usd


def ec2_instances_from_offer(offer: dict[str, Any]) -> dict[str, float]:
    """Linux, shared tenancy, no pre-installed software, capacity Used, On-Demand, per hour.

    Like the karpenter generator, a *.metal type that is only listed with Dedicated tenancy is
    taken from its Dedicated row."""
    shared: dict[str, float] = {}
    dedicated_metal: dict[str, float] = {}
    for _sku, product, attrs, usd, dim in iter_ondemand(offer):
        if not product.get("productFamily", "").startswith("Compute Instance"):
            continue
        itype = attrs.get("instanceType", "")
        if not (
            _ieq(attrs.get("operatingSystem"), "Linux")
            and _ieq(attrs.get("preInstalledSw"), "NA")
            and _ieq(attrs.get("capacitystatus"), "Used")
            and _ieq(attrs.get("licenseModel", "No License required"), "No License required")
            and attrs.get("marketoption", "OnDemand") == "OnDemand"
            and dim.get("unit") == "Hrs"
            and usd > 0
            and itype
        ):
            continue
        tenancy = attrs.get("tenancy", "")
        if tenancy == "Shared":
            _keep_lowest(shared, itype, usd)
        elif tenancy == "Dedicated" and itype.endswith(".metal"):
            _keep_lowest(dedicated_metal, itype, usd)
    for itype, usd in dedicated_metal.items():
        shared.setdefault(itype, usd)
    return shared


def ebs_from_offer(offer: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per volume type: usd_per_gb_month (productFamily Storage) and usd_per_iops_month
    (productFamily System Operation, group 'EBS IOPS', first tier only)."""
    out: dict[str, dict[str, float]] = {}
    for _sku, product, attrs, usd, dim in iter_ondemand(offer):
        family = product.get("productFamily", "")
        vol = attrs.get("volumeApiName")
        if not vol:
            continue
        unit = dim.get("unit", "")
        if family == "Storage" and unit.lower() == "gb-mo":
            _keep_lowest(out.setdefault(vol, {}), "usd_per_gb_month", usd)
        elif family == "System Operation" and attrs.get("group") == "EBS IOPS" and unit.lower() == "iops-mo":
            if _first_tier(dim) and usd > 0:
                _keep_lowest(out.setdefault(vol, {}), "usd_per_iops_month", usd)
    return out


def rds_instances_from_offer(offer: dict[str, Any], engines: Iterable[str]) -> dict[str, dict[str, float]]:
    """Single-AZ, On-Demand, per hour; Aurora I/O-Optimized and extended-support rows excluded."""
    wanted = set(engines)
    out: dict[str, dict[str, float]] = {}
    for _sku, product, attrs, usd, dim in iter_ondemand(offer):
        if product.get("productFamily") != "Database Instance":
            continue
        engine = attrs.get("databaseEngine", "")
        usage = attrs.get("usagetype", "")
        cls = attrs.get("instanceType", "")
        if (
            engine not in wanted
            or attrs.get("deploymentOption") != "Single-AZ"
            or not cls.startswith("db.")
            or "IOOptimized" in usage
            or "ExtendedSupport" in usage
            or dim.get("unit") != "Hrs"
            or usd <= 0
        ):
            continue
        _keep_lowest(out.setdefault(cls, {}), engine, usd)
    return out


# Service-specific filters for the instance-priced services.
INSTANCE_OFFERS: dict[str, dict[str, Any]] = {
    "elasticache": {
        "families": ("Cache Instance",),
        "usagetype_contains": "NodeUsage:",
        "attr_equals": {"cacheEngine": "Redis"},
    },
    "opensearch": {
        "families": ("Amazon OpenSearch Service Instance", "Elastic Search Instance"),
        "usagetype_contains": "ESInstance:",
        "attr_equals": {},
    },
    "redshift": {
        "families": ("Compute Instance",),
        "usagetype_contains": "Node:",
        "attr_equals": {},
    },
    "sagemaker": {
        "families": ("ML Instance",),
        "usagetype_contains": "Host:",
        "attr_equals": {},
    },
}


def _attrs(product: dict[str, Any]) -> dict[str, str]:
    return product.get("attributes", {})


# What is worth keeping of each offer file while it streams past (the importers filter further).
OFFER_PREFILTERS: dict[str, Any] = {
    "ec2": lambda p: (
        p.get("productFamily", "").startswith("Compute Instance")
        and _ieq(_attrs(p).get("operatingSystem"), "Linux")
        and _ieq(_attrs(p).get("preInstalledSw"), "NA")
        and _ieq(_attrs(p).get("capacitystatus"), "Used")
    )
    or bool(_attrs(p).get("volumeApiName")),
    "rds": lambda p: p.get("productFamily") == "Database Instance",
    **{
        service: (lambda families: lambda p: p.get("productFamily") in families)(spec["families"])
        for service, spec in INSTANCE_OFFERS.items()
    },
}

# The offer files ``offers`` reads: its option (``--ec2`` ...) and the Price List service code
# whose ``current/<region>/index.json`` it is.
OFFER_SERVICES: dict[str, str] = {
    "ec2": "AmazonEC2",
    "rds": "AmazonRDS",
    "elasticache": "AmazonElastiCache",
    "opensearch": "AmazonES",
    "redshift": "AmazonRedshift",
    "sagemaker": "AmazonSageMaker",
}


def instances_from_offer(offer: dict[str, Any], service: str) -> dict[str, float]:
    spec = INSTANCE_OFFERS[service]
    out: dict[str, float] = {}
    for _sku, product, attrs, usd, dim in iter_ondemand(offer):
        if product.get("productFamily") not in spec["families"]:
            continue
        usage = attrs.get("usagetype", "")
        itype = attrs.get("instanceType", "")
        if spec["usagetype_contains"] not in usage or "ExtendedSupport" in usage:
            continue
        if any(attrs.get(k) != v for k, v in spec["attr_equals"].items()):
            continue
        if dim.get("unit") != "Hrs" or usd <= 0 or not itype:
            continue
        if service == "sagemaker" and itype.endswith("-Hosting"):
            itype = itype[: -len("-Hosting")]
        _keep_lowest(out, itype, usd)
    return out


OFFER_SOURCE = "AWS Price List bulk offer file"


def from_offers(table: dict[str, Any]) -> bool:
    """Whether a table was rebuilt by ``offers`` (its fixture no longer reproduces it)."""
    return str(table.get("source", "")).startswith(OFFER_SOURCE)


def offer_meta(service_code: str, region: str, retrieved: str) -> dict[str, Any]:
    return {
        "source": f"{OFFER_SOURCE} {service_code} (region index {region})",
        "source_url": f"https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{service_code}/current/{region}/index.json",
        "as_of": retrieved,
        "retrieved": retrieved,
        "stale": False,
    }


def build_from_offers(args: argparse.Namespace, existing_tables: str) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    region, retrieved = args.region, args.retrieved
    if args.ec2:
        offer = load_offer(args.ec2, OFFER_PREFILTERS["ec2"])
        prices = ec2_instances_from_offer(offer)
        if prices:
            tables[f"ec2_{region}.json"] = {
                "table": "ec2_ondemand",
                "region": region,
                "unit": "USD per instance-hour",
                "filters": "operatingSystem=Linux, preInstalledSw=NA, capacitystatus=Used, term=OnDemand, "
                "tenancy=Shared (Dedicated for *.metal)",
                **offer_meta("AmazonEC2", region, retrieved),
                "count": len(prices),
                "prices": prices,
            }
        ebs = ebs_from_offer(offer)
        if ebs:
            tables[f"ebs_{region}.json"] = merge_ebs(existing_tables, region, ebs, retrieved)
    if args.rds:
        offer = load_offer(args.rds, OFFER_PREFILTERS["rds"])
        for name, engines, table in (("rds", RDS_ENGINES, "rds_ondemand"), ("aurora", AURORA_ENGINES, "aurora_ondemand")):
            prices = rds_instances_from_offer(offer, engines)
            if prices:
                tables[f"{name}_{region}.json"] = {
                    "table": table,
                    "region": region,
                    "unit": "USD per instance-hour, Single-AZ",
                    "engines": list(engines),
                    **offer_meta("AmazonRDS", region, retrieved),
                    "count": len(prices),
                    "prices": prices,
                }
    for service in INSTANCE_OFFERS:
        code = OFFER_SERVICES[service]
        path = getattr(args, service)
        if not path:
            continue
        prices = instances_from_offer(load_offer(path, OFFER_PREFILTERS[service]), service)
        if prices:
            tables[f"{service}_{region}.json"] = {
                "table": f"{service}_ondemand",
                "region": region,
                "unit": "USD per node/instance-hour",
                **offer_meta(code, region, retrieved),
                "count": len(prices),
                "prices": prices,
            }
    return tables


def merge_ebs(existing_tables: str, region: str, ebs: dict[str, dict[str, float]], retrieved: str) -> dict[str, Any]:
    """Update storage and IOPS prices of the existing EBS table; keep fields an offer does not
    carry in a form we parse (gp3 free baselines and throughput price)."""
    path = os.path.join(existing_tables, f"ebs_{region}.json")
    table: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            table = json.load(fh)
    volumes = dict(table.get("volumes", {}))
    for vol, fields in ebs.items():
        merged = dict(volumes.get(vol, {}))
        merged.update(fields)
        volumes[vol] = merged
    table.update(
        {
            "table": table.get("table", "ebs"),
            "region": region,
            "source": f"{OFFER_SOURCE} AmazonEC2 (region index {region}) for storage and "
            "IOPS prices; other fields kept from the previous table: " + str(table.get("source", "none")),
            "retrieved": retrieved,
            "as_of": retrieved,
            "stale": False,
            "volumes": volumes,
        }
    )
    return table


# --------------------------------------------------------------------------- check

PROVENANCE_NOTE = "per entry"


def check_table(name: str, table: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(table, dict):
        return [f"{name}: top level is not an object"]

    def provenance(obj: dict[str, Any], where: str) -> None:
        if not isinstance(obj.get("source"), str) or not obj["source"].strip():
            problems.append(f"{where}: no source")
        if not isinstance(obj.get("stale"), bool):
            problems.append(f"{where}: no boolean stale flag")
        if not any(isinstance(obj.get(k), str) and obj[k] for k in ("retrieved", "as_of")):
            problems.append(f"{where}: neither retrieved nor as_of")

    provenance(table, name)
    if table.get("source") == PROVENANCE_NOTE:
        for key, value in table.items():
            if isinstance(value, dict):
                provenance(value, f"{name}:{key}")

    def numbers(value: Any, where: str) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or value < 0:
                problems.append(f"{where}: {value!r} is not a finite non-negative number")
        elif isinstance(value, dict):
            for k, v in value.items():
                numbers(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                numbers(v, f"{where}[{i}]")

    numbers(table, name)
    if "prices" in table and "count" in table and table["count"] != len(table["prices"]):
        problems.append(f"{name}: count {table['count']} but {len(table['prices'])} prices")
    return problems


def check_dir(tables_dir: str) -> list[str]:
    problems: list[str] = []
    names = sorted(n for n in os.listdir(tables_dir) if n.endswith(".json"))
    if not names:
        problems.append(f"{tables_dir}: no tables")
    for name in names:
        path = os.path.join(tables_dir, name)
        try:
            with open(path, encoding="utf-8") as fh:
                table = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        problems.extend(check_table(name, table))
    return problems


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p_fix = sub.add_parser("fixtures", help="rebuild generated tables from pricing/sources")
    p_fix.add_argument("--sources", default=DEFAULT_SOURCES)
    p_fix.add_argument("--out", default=DEFAULT_TABLES)
    p_fix.add_argument("--only", action="append", help="write only this table file (repeatable)")

    p_off = sub.add_parser("offers", help="rebuild tables from AWS Price List bulk offer files")
    p_off.add_argument("--region", default=BASE_REGION)
    p_off.add_argument("--retrieved", required=True, help="date the offer files were downloaded (YYYY-MM-DD)")
    for option, code in OFFER_SERVICES.items():
        p_off.add_argument(f"--{option}", help=f"{code} offer file")
    p_off.add_argument("--out", default=DEFAULT_TABLES)

    p_chk = sub.add_parser("check", help="validate the tables")
    p_chk.add_argument("--tables", default=DEFAULT_TABLES)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fixtures":
            tables = build_from_fixtures(args.sources)
            for name, table in tables.items():
                if args.only and name not in args.only:
                    continue
                print(write_table(args.out, name, table))
        elif args.command == "offers":
            tables = build_from_offers(args, args.out)
            if not tables:
                print("no offer file given or nothing matched", file=sys.stderr)
                return 1
            for name, table in tables.items():
                print(write_table(args.out, name, table))
        else:
            problems = check_dir(args.tables)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                return 1
            print(f"{args.tables}: all tables valid")
    except (SourceError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
