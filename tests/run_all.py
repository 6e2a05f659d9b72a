"""Runs the whole test suite once per Keras backend (TensorFlow, JAX, PyTorch),
each in its own process, and prints one closing line for all of them.

    python tests/run_all.py [--record-seconds] [pytest arguments...]

Each run spreads its test files over the machine's cores (pytest-xdist,
`--dist loadfile`, so module-scoped fixtures are built once per file),
the slowest files first (tests/file_seconds.json, per backend; a file it
does not list counts as slowest), so that no long file starts last and
runs alone. `--record-seconds` rewrites that file from this run's times.

Exit status 0 only if every backend passed.
"""

import os
import subprocess
import sys
import tempfile
import time
import json
import xml.etree.ElementTree as ET
from collections import defaultdict

BACKENDS = ("tensorflow", "jax", "torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = os.path.join(ROOT, "tests", "file_seconds.json")


def file_seconds(suite):
    """{test file: seconds its tests took} from a JUnit report's cases."""
    seconds = defaultdict(float)
    for case in suite.iter("testcase"):
        module = case.get("classname", "").split(".")
        name = "/".join(module[:2]) + ".py" if len(module) > 1 else ""
        seconds[name] += float(case.get("time", 0))
    return {k: round(v, 1) for k, v in sorted(seconds.items()) if k}


def run(backend, extra):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.xml")
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        start = time.time()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-p", "no:benchmark",
             "-n", str(min(os.cpu_count() or 1, 4)), "--dist", "loadfile",
             "--no-loadscope-reorder",  # the slowest first: conftest's order
             f"--junitxml={report}", *extra],
            cwd=ROOT, env=env,
        )
        seconds = time.time() - start
        counts = dict(tests=0, failures=0, errors=0, skipped=0)
        files = {}
        if os.path.exists(report):
            suite = ET.parse(report).getroot()
            suite = suite if suite.tag == "testsuite" else suite[0]
            counts = {k: int(suite.get(k, 0)) for k in counts}
            files = file_seconds(suite)
    return code, seconds, counts, files


def main():
    extra = sys.argv[1:]
    record = "--record-seconds" in extra
    extra = [a for a in extra if a != "--record-seconds"]
    totals = dict(passed=0, failed=0, skipped=0)
    ok = True
    rows = []
    recorded = {}
    for backend in BACKENDS:
        print(f"\n=== KERAS_BACKEND={backend} ===", flush=True)
        code, seconds, c, recorded[backend] = run(backend, extra)
        failed = c["failures"] + c["errors"]
        passed = c["tests"] - failed - c["skipped"]
        ok = ok and code == 0 and c["tests"] > 0
        totals["passed"] += passed
        totals["failed"] += failed
        totals["skipped"] += c["skipped"]
        rows.append(f"{backend:<11} {passed:>5} passed {failed:>3} failed "
                    f"{c['skipped']:>3} skipped  {seconds:7.1f} s  (exit {code})")
    print("\nper backend:")
    print("\n".join("  " + r for r in rows))
    print(f"total: {totals['passed']} passed, {totals['failed']} failed, "
          f"{totals['skipped']} skipped")
    if record:
        with open(SECONDS, "w") as f:
            json.dump(recorded, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"per-file seconds written to {SECONDS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
