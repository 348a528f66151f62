"""Tests for pricing/build_tables.py. Run: python3 -m unittest discover -s pricing -p 'test_*.py'"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import build_tables as bt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "testdata")
TABLES = os.path.join(HERE, "tables")


def testdata(name: str) -> dict:
    return bt.load_offer(os.path.join(TESTDATA, name))


class OfferImportTest(unittest.TestCase):
    def test_ec2_keeps_linux_shared_used_ondemand_only(self):
        prices = bt.ec2_instances_from_offer(testdata("AmazonEC2-us-east-1-excerpt.json"))
        # Windows, RHEL, Dedicated (non-metal), unused capacity reservation, SQL Web and the
        # Reserved term are all rejected: m5.large is its Linux shared on-demand price.
        self.assertEqual(prices["m5.large"], 0.096)
        self.assertEqual(prices["t3.micro"], 0.0104)

    def test_ec2_metal_only_listed_dedicated_is_kept(self):
        prices = bt.ec2_instances_from_offer(testdata("AmazonEC2-us-east-1-excerpt.json"))
        self.assertEqual(prices["c5.metal"], 4.08)
        self.assertEqual(set(prices), {"m5.large", "t3.micro", "c5.metal"})

    def test_ebs_storage_and_first_iops_tier(self):
        ebs = bt.ebs_from_offer(testdata("AmazonEC2-us-east-1-excerpt.json"))
        self.assertEqual(ebs["gp2"], {"usd_per_gb_month": 0.1})
        self.assertEqual(ebs["gp3"], {"usd_per_gb_month": 0.08})
        self.assertEqual(ebs["io1"], {"usd_per_iops_month": 0.065})
        # io2 is tiered: only the first tier (beginRange 0) is taken.
        self.assertEqual(ebs["io2"], {"usd_per_iops_month": 0.065})

    def test_rds_single_az_open_engines_and_aurora(self):
        offer = testdata("AmazonRDS-us-east-1-excerpt.json")
        rds = bt.rds_instances_from_offer(offer, bt.RDS_ENGINES)
        self.assertEqual(rds, {"db.m5.large": {"MySQL": 0.171, "PostgreSQL": 0.178}})
        aurora = bt.rds_instances_from_offer(offer, bt.AURORA_ENGINES)
        # The I/O-Optimized row is excluded: Aurora Standard price.
        self.assertEqual(aurora, {"db.r5.large": {"Aurora MySQL": 0.29}})

    def test_elasticache_redis_rows_only(self):
        prices = bt.instances_from_offer(testdata("AmazonElastiCache-us-east-1-excerpt.json"), "elasticache")
        self.assertEqual(prices, {"cache.r6g.large": 0.206})

    def test_not_an_offer_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x.json")
            with open(path, "w") as fh:
                json.dump({"hello": 1}, fh)
            with self.assertRaises(bt.SourceError):
                bt.load_offer(path)

    def test_offers_command_writes_tables_and_merges_ebs(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(os.path.join(TABLES, "ebs_us-east-1.json"), tmp)
            out = io.StringIO()
            with redirect_stdout(out):
                rc = bt.main([
                    "offers", "--retrieved", "2026-11-01", "--out", tmp,
                    "--ec2", os.path.join(TESTDATA, "AmazonEC2-us-east-1-excerpt.json"),
                    "--rds", os.path.join(TESTDATA, "AmazonRDS-us-east-1-excerpt.json"),
                    "--elasticache", os.path.join(TESTDATA, "AmazonElastiCache-us-east-1-excerpt.json"),
                ])
            self.assertEqual(rc, 0)
            with open(os.path.join(tmp, "ec2_us-east-1.json")) as fh:
                ec2 = json.load(fh)
            self.assertEqual(ec2["prices"]["m5.large"], 0.096)
            self.assertEqual(ec2["retrieved"], "2026-11-01")
            self.assertFalse(ec2["stale"])
            self.assertIn("AmazonEC2/current/us-east-1/index.json", ec2["source_url"])
            with open(os.path.join(tmp, "ebs_us-east-1.json")) as fh:
                ebs = json.load(fh)
            # Offer fields updated, hand-curated gp3 baselines and throughput price kept.
            self.assertEqual(ebs["volumes"]["gp3"]["usd_per_gb_month"], 0.08)
            self.assertEqual(ebs["volumes"]["gp3"]["free_iops"], 3000)
            self.assertEqual(ebs["volumes"]["gp3"]["usd_per_mbps_month"], 0.04)
            self.assertEqual(ebs["retrieved"], "2026-11-01")
            for name in ("rds_us-east-1.json", "aurora_us-east-1.json", "elasticache_us-east-1.json"):
                self.assertTrue(os.path.exists(os.path.join(tmp, name)), name)
            self.assertEqual(bt.check_dir(tmp), [])


class StreamingOfferTest(unittest.TestCase):
    """The offer reader streams (AmazonEC2's us-east-1 file is gigabytes): what it keeps must be
    what reading the whole file would give, whatever the piece size."""

    def whole(self, name: str) -> dict:
        with open(os.path.join(TESTDATA, name), encoding="utf-8") as fh:
            offer = json.load(fh)
        return {"products": offer["products"], "terms": {"OnDemand": offer["terms"].get("OnDemand", {})}}

    def test_streamed_equals_whole_at_any_piece_size(self):
        for name in sorted(n for n in os.listdir(TESTDATA) if n.endswith(".json")):
            expected = self.whole(name)
            for chunk in (1, 7, 64, 1 << 20):
                with self.subTest(name=name, chunk=chunk):
                    got = bt.load_offer(os.path.join(TESTDATA, name), chunk=chunk)
                    self.assertEqual(got, expected)

    def test_the_prefilter_keeps_what_the_importers_use(self):
        path = os.path.join(TESTDATA, "AmazonEC2-us-east-1-excerpt.json")
        kept = bt.load_offer(path, bt.OFFER_PREFILTERS["ec2"])
        every = testdata("AmazonEC2-us-east-1-excerpt.json")
        self.assertLess(len(kept["products"]), len(every["products"]))
        self.assertEqual(bt.ec2_instances_from_offer(kept), bt.ec2_instances_from_offer(every))
        self.assertEqual(bt.ebs_from_offer(kept), bt.ebs_from_offer(every))
        self.assertEqual(set(kept["terms"]["OnDemand"]) - set(kept["products"]), set())

    def test_broken_files_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            for text in ('[1, 2]', '{"products": {"A": {}}', '{"products": {"A": {}} "terms": {}}'):
                path = os.path.join(tmp, "x.json")
                with open(path, "w") as fh:
                    fh.write(text)
                with self.subTest(text=text), self.assertRaises(bt.SourceError):
                    bt.load_offer(path)


WORKFLOW = os.path.join(HERE, "..", ".github", "workflows", "prices.yml")


class PricesWorkflowParityTest(unittest.TestCase):
    """.github/workflows/prices.yml calls build_tables.py with sub-commands and options its
    argparse accepts, and downloads the offer files ``offers`` reads."""

    def setUp(self):
        with open(WORKFLOW, encoding="utf-8") as fh:
            self.text = fh.read()

    def env(self, name: str) -> str:
        match = re.search(rf"^\s*{name}:\s*(.+?)\s*$", self.text, re.M)
        self.assertIsNotNone(match, f"{name} is not set in the workflow")
        return match.group(1)

    def invocations(self) -> list[list[str]]:
        """The argument lists of every ``build_tables.py`` command in the workflow."""
        joined = self.text.replace("\\\n", " ")
        commands = re.findall(r"(?m)^\s*(?:run:\s*)?python3 pricing/build_tables\.py\b(.*)$", joined)
        return [shlex.split(c) for c in commands]

    def test_every_invocation_parses(self):
        calls = self.invocations()
        self.assertEqual(sorted(c[0] for c in calls), ["check", "offers"])
        parser = bt.build_parser()
        for argv in calls:
            with self.subTest(argv=argv), redirect_stderr(io.StringIO()) as err:
                try:
                    parser.parse_args(argv)
                except SystemExit:
                    self.fail(f"build_tables.py refuses {argv}: {err.getvalue()}")

    def test_it_downloads_and_passes_every_offer_file_offers_reads(self):
        services = self.env("OFFER_SERVICES").split()
        self.assertEqual(sorted(services), sorted(bt.OFFER_SERVICES.values()))
        self.assertEqual(self.env("PRICE_REGION"), bt.BASE_REGION)
        self.assertIn(
            "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/$code/current/$PRICE_REGION/index.json",
            self.text,
        )
        self.assertIn('--output "$RUNNER_TEMP/offers/$code.json"', self.text)
        (offers,) = [c for c in self.invocations() if c[0] == "offers"]
        args = bt.build_parser().parse_args(offers)
        self.assertEqual(args.region, "$PRICE_REGION")
        for option, code in bt.OFFER_SERVICES.items():
            self.assertEqual(getattr(args, option), f"$offers/{code}.json", option)

    def test_it_runs_the_pricing_tests_and_proposes_a_pull_request(self):
        self.assertIn("run: scripts/test-pricing.sh", self.text)
        self.assertRegex(self.text, r"uses: peter-evans/create-pull-request@v\d+\.\d+\.\d+\n")
        self.assertRegex(self.text, r"(?m)^  schedule:\n(?:\s*#.*\n)*    - cron: ")
        self.assertIn("workflow_dispatch:", self.text)


class FixtureImportTest(unittest.TestCase):
    def test_committed_generated_tables_are_reproducible(self):
        tables = bt.build_from_fixtures(bt.DEFAULT_SOURCES)
        for name, table in tables.items():
            with open(os.path.join(TABLES, name), encoding="utf-8") as fh:
                text = fh.read()
            if bt.from_offers(json.loads(text)):
                continue  # rebuilt by the prices workflow from offer files, not the fixture
            self.assertEqual(text, bt.dump_table(table), f"{name} differs from a rebuild")

    def test_tables_rebuilt_from_offers_are_told_apart(self):
        self.assertTrue(bt.from_offers(bt.offer_meta("AmazonEC2", "us-east-1", "2026-12-01")))
        self.assertFalse(bt.from_offers(bt.build_from_fixtures(bt.DEFAULT_SOURCES)["ec2_us-east-1.json"]))

    def test_ec2_fixture_contents(self):
        prices = bt.ec2_from_karpenter_csv(os.path.join(bt.DEFAULT_SOURCES, bt.EC2_FIXTURE))
        self.assertEqual(len(prices), 1367)
        self.assertEqual(prices["m5.large"], 0.096)
        self.assertEqual(prices["p4d.24xlarge"], 21.957642)

    def test_rds_fixture_split_and_stale(self):
        tables = bt.build_from_fixtures(bt.DEFAULT_SOURCES)
        rds, aurora = tables["rds_us-east-1.json"], tables["aurora_us-east-1.json"]
        self.assertTrue(rds["stale"])
        self.assertTrue(aurora["stale"])
        self.assertEqual(rds["as_of"], "2021-08-03")
        self.assertEqual(rds["prices"]["db.m5.large"], {"MariaDB": 0.171, "MySQL": 0.171, "PostgreSQL": 0.178})
        self.assertEqual(aurora["prices"]["db.r5.large"], {"Aurora MySQL": 0.29, "Aurora PostgreSQL": 0.29})
        self.assertNotIn("Aurora MySQL", json.dumps(rds["prices"]))

    def test_regional_factors(self):
        tables = bt.build_from_fixtures(bt.DEFAULT_SOURCES)
        factors = tables["regions.json"]["factors"]
        self.assertEqual(factors["us-east-1"], 1.0)
        self.assertEqual(factors["eu-west-1"], round(0.107 / 0.096, 4))
        self.assertEqual(factors["sa-east-1"], round(0.153 / 0.096, 4))
        self.assertNotIn("cn-north-1", factors)

    def _csv(self, text: str) -> str:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
        tmp.write(text)
        tmp.close()
        self.addCleanup(os.unlink, tmp.name)
        return tmp.name

    def test_bad_fixture_rows_are_rejected(self):
        for text in (
            "instance_type,price\nm5.large,0.096\n",  # wrong header
            "instance_type,usd_per_hour\nm5.large,0.096\nm5.large,0.1\n",  # duplicate
            "instance_type,usd_per_hour\nm5.large,-1\n",  # negative
            "instance_type,usd_per_hour\nm5.large,abc\n",  # not a number
            "instance_type,usd_per_hour\nm5large,0.1\n",  # not a type
            "instance_type,usd_per_hour\nm5.large,nan\n",  # not finite
        ):
            with self.subTest(text=text), self.assertRaises(bt.SourceError):
                bt.ec2_from_karpenter_csv(self._csv(text))

    def test_unknown_rds_engine_rejected(self):
        path = self._csv("instance_class,engine,usd_per_hour\ndb.m5.large,Oracle,0.5\n")
        with self.assertRaises(bt.SourceError):
            bt.rds_from_ec2instancesinfo_csv(path)


class FormatAndCheckTest(unittest.TestCase):
    def test_dump_is_one_entry_per_line_and_valid_json(self):
        text = bt.dump_table({"source": "s", "stale": False, "as_of": "x", "prices": {"b": 2.5, "a": 1}})
        self.assertEqual(
            text,
            '{\n  "source": "s",\n  "stale": false,\n  "as_of": "x",\n  "prices": {\n    "a": 1,\n    "b": 2.5\n  }\n}\n',
        )
        self.assertEqual(json.loads(text)["prices"], {"a": 1, "b": 2.5})

    def test_committed_tables_pass_check(self):
        self.assertEqual(bt.check_dir(TABLES), [])

    def test_check_reports_missing_provenance_and_bad_numbers(self):
        problems = bt.check_table("t.json", {"prices": {"a": -1}, "count": 2})
        text = "\n".join(problems)
        self.assertIn("no source", text)
        self.assertIn("no boolean stale flag", text)
        self.assertIn("neither retrieved nor as_of", text)
        self.assertIn("not a finite non-negative number", text)
        self.assertIn("count 2 but 1 prices", text)

    def test_check_per_entry_provenance(self):
        table = {"source": "per entry", "stale": False, "retrieved": "d", "nat": {"usd_per_hour": 0.045}}
        self.assertIn("t.json:nat: no source", bt.check_table("t.json", table))

    def test_check_command_exit_codes(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "bad.json"), "w") as fh:
                fh.write("{not json")
            err = io.StringIO()
            with redirect_stderr(err):
                self.assertEqual(bt.main(["check", "--tables", tmp]), 1)
            self.assertIn("bad.json", err.getvalue())
        with redirect_stdout(io.StringIO()):
            self.assertEqual(bt.main(["check", "--tables", TABLES]), 0)


if __name__ == "__main__":
    unittest.main()
