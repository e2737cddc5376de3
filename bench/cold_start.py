"""Cold start: for each function of template.yaml, how long a fresh Python process takes to
import and initialize its handler module, next to a fresh process that only imports boto3;
which packages that time goes to; and the size of the built layer.

    .venv/bin/python -m bench.cold_start [--runs 11]

Each process starts isolated (python -I: no current folder, no PYTHONPATH) with Lambda's
path, the function's folder and then the layer, and the template's environment variables
(values resolved for a local deployment: names, nothing it connects to), with
LAMBDA_TASK_ROOT as Lambda sets it: the functions are traced, as the template's Tracing:
Active has them in Lambda (--tracing off: POWERTOOLS_TRACE_DISABLED=true, as the local
stack has them; --tracing both: each function both ways, in the same rounds). The time is
taken inside the process, from before the import to the handler in hand: the
interpreter's own start, the same for every function, is left out. Figures are medians of
`--runs` processes, in wall time and in the process's CPU time (which other work on the
machine disturbs less); a ratio is the median of each of a function's processes over the
boto3 process run just before it. Goal: no function above 2x the boto3 baseline.

Some packages load on first use, not with the modules that use them (FIRST_USE): requests
and oauthlib with the first client of X or ServiceNow, argon2 with the first password
hashed or checked, cryptography with the first pending X connection sealed or opened. The last column shows what they add, once per instance, to the first
call that uses them, for each function that loads a module that can.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

from bench.common import machine
from local import LAYER_DIR
from local.template import REPO_ROOT, Deployment, Function, load_template

GOAL = 2.0
# A module a handler may load -> the packages that module imports on its first use.
FIRST_USE = {
    "twittnow.clients.x": ["requests", "oauthlib.oauth1"],
    "twittnow.clients.servicenow": ["requests"],
    "twittnow.passwords": ["argon2"],
    "twittnow.confirmation_codes": [
        "cryptography.hazmat.primitives.ciphers.aead",
        "cryptography.hazmat.primitives.kdf.hkdf",
    ],
}
# Run in each fresh process: argv is the function's code root and handler ("" for boto3 alone),
# and FIRST_USE as JSON ("{}": leave it out). Prints wall and CPU milliseconds, then those
# of importing what the handler's modules import on first use (-1: nothing).
PROGRAM = """
import importlib, json, sys, time
started, started_cpu = time.perf_counter(), time.process_time()
code_dir, handler, first_use = sys.argv[1:]
if handler:
    sys.path[:0] = [code_dir, LAYER_DIR]
    module_name, _, function_name = handler.rpartition(".")
    getattr(importlib.import_module(module_name), function_name)
else:
    import boto3
loaded = time.perf_counter()
print((loaded - started) * 1000, (time.process_time() - started_cpu) * 1000, end=" ")
later = [package for module, packages in json.loads(first_use).items()
         if module in sys.modules for package in packages]
for package in later:
    importlib.import_module(package)
print((time.perf_counter() - loaded) * 1000 if later else -1)
""".replace("LAYER_DIR", repr(str(LAYER_DIR)))
BASELINE = "boto3 alone"
HEAVY_SHOWN = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="fresh processes per function")
    parser.add_argument(
        "--tracing",
        choices=("on", "off", "both"),
        default="on",
        help="trace the functions as Lambda does (on), not (off), or measure both ways",
    )
    arguments = parser.parse_args()
    runs, tracing = (
        arguments.runs,
        {"on": (True,), "off": (False,), "both": (True, False)}[arguments.tracing],
    )

    # Resolved for a local deployment: names and URLs, nothing a handler connects to at import.
    functions = load_template(Deployment(aws_endpoint_url="http://127.0.0.1:9")).functions
    # (row name, function, traced); with both ways, a function's untraced row follows it.
    kinds: list[tuple[str, Function | None, bool]] = [(BASELINE, None, True)]
    kinds += [
        (each.logical_id if traced else f"{each.logical_id} untraced", each, traced)
        for each in functions
        for traced in tracing
    ]
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    # Each function's sample over the boto3 sample taken just before it: the machine's
    # speed drifts by a quarter within seconds, which a baseline taken once a round (up to
    # half a minute away) would put into the ratio.
    wall_ratios: dict[str, list[float]] = defaultdict(list)
    cpu_ratios: dict[str, list[float]] = defaultdict(list)
    first_use_ms: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):  # round after round, so that any drift touches every function alike
        for name, function, traced in kinds[1:]:
            base_elapsed, base_used, _ = map(float, run(None, traced=True).split())
            elapsed, used, first_use_import = map(float, run(function, traced=traced).split())
            wall[BASELINE].append(base_elapsed)
            cpu[BASELINE].append(base_used)
            wall[name].append(elapsed)
            cpu[name].append(used)
            wall_ratios[name].append(elapsed / base_elapsed)
            cpu_ratios[name].append(used / base_used)
            if first_use_import >= 0:
                first_use_ms[name].append(first_use_import)
    wall_ms = {name: statistics.median(samples) for name, samples in wall.items()}
    cpu_ms = {name: statistics.median(samples) for name, samples in cpu.items()}
    wall_ratio = {name: statistics.median(ratios) for name, ratios in wall_ratios.items()}
    cpu_ratio = {name: statistics.median(ratios) for name, ratios in cpu_ratios.items()}
    wall_ratio[BASELINE] = cpu_ratio[BASELINE] = 1.0

    print(
        f"cold start, median of {runs} fresh processes each, tracing {arguments.tracing}, "
        f"{machine()}"
    )
    print(f"  {'':48} {'wall':>9} {'ratio':>7}   {'CPU':>9} {'ratio':>7}          first use adds")
    above = []
    for name, _, traced in kinds:
        ratio = wall_ratio[name]
        if ratio > GOAL and traced == tracing[0]:  # the goal is for the first way measured
            above.append(name)
        later = (
            f"  +{statistics.median(first_use_ms[name]):4.1f} ms" if name in first_use_ms else ""
        )
        print(
            f"  {name:48} {wall_ms[name]:6.1f} ms {ratio:5.2f} x   "
            f"{cpu_ms[name]:6.1f} ms {cpu_ratio[name]:5.2f} x{'  above' if ratio > GOAL else '       '}"
            f"{later}"
        )
    print(
        f"  goal: no function above {GOAL} x boto3 alone (wall): "
        f"{'met' if not above else f'missed by {len(above)} of {len(functions)}'}"
    )
    if len(tracing) == 2:
        for times, kind in ((wall_ms, "wall"), (cpu_ms, "CPU")):
            added = statistics.median(
                times[function.logical_id] - times[f"{function.logical_id} untraced"]
                for function in functions
            )
            print(f"  tracing adds {added:4.1f} ms of {kind} time (median over the functions)")
    heavy_packages(functions, tracing[0])
    layer_size()


def run(function: Function | None, *options: str, traced: bool) -> str:
    """One fresh process importing the function's handler (None: boto3 alone), `traced` or
    not. Answers what it prints (see PROGRAM), or with `options` (-X importtime) its
    stderr."""
    arguments = [str(function.code_uri), function.handler] if function else ["", ""]
    arguments.append("{}" if options else json.dumps(FIRST_USE))
    environment = {
        "PATH": os.environ["PATH"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        **(function.environment if function else {}),
    }
    if function:
        environment["LAMBDA_TASK_ROOT"] = str(function.code_uri)
        if not traced:
            environment["POWERTOOLS_TRACE_DISABLED"] = "true"
    done = subprocess.run(
        [sys.executable, "-I", *options, "-c", PROGRAM, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr if options else done.stdout


def heavy_packages(functions: tuple[Function, ...], traced: bool) -> None:
    """python -X importtime of every function, once: the time each top-level package's
    own modules take (self time, so nothing is counted twice), and who imports it."""
    baseline = _package_times(run(None, "-X", "importtime", traced=traced), set())[0]
    times: dict[str, list[float]] = defaultdict(list)
    importers: dict[str, Counter] = defaultdict(Counter)
    for function in functions:
        ours = {"twittnow", *(path.parent.name for path in function.code_uri.glob("*/__init__.py"))}
        importtime = run(function, "-X", "importtime", traced=traced)
        package_times, package_importers = _package_times(importtime, ours)
        for package, milliseconds in package_times.items():
            times[package].append(milliseconds)
            importers[package][package_importers[package]] += 1
    print(
        "  heavy packages (python -X importtime, self time; median over the functions "
        "importing them):"
    )
    heaviest = sorted(times, key=lambda package: -statistics.median(times[package]))
    for package in heaviest[:HEAVY_SHOWN]:
        where = (
            "boto3 (the baseline has it too)"
            if package in baseline
            else ", ".join(
                f"{importer} ({count})" for importer, count in importers[package].most_common(3)
            )
        )
        print(
            f"    {package:22} {statistics.median(times[package]):5.1f} ms "
            f"in {len(times[package]):2} functions, imported by {where}"
        )


def _package_times(importtime: str, ours: set[str]) -> tuple[dict[str, float], dict[str, str]]:
    """From -X importtime's report: milliseconds per top-level package, and which of our
    modules (`ours`: top-level names) first pulled each package in."""
    rows = []  # (self microseconds, depth, module), a module after the ones it imported
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        rows.append((int(own), (len(name) - len(name.lstrip())) // 2, name.strip()))
    times: Counter = Counter()
    importers: dict[str, str] = {}
    for index, (own, depth, name) in enumerate(rows):
        package = name.split(".")[0]
        times[package] += own / 1000
        if package not in importers:
            importers[package] = _our_importer(rows[index + 1 :], depth, package, ours)
    return dict(times), importers


def _our_importer(later_rows: list[tuple], depth: int, package: str, ours: set[str]) -> str:
    """The nearest module of ours, outside `package`, whose import led to a row at `depth`
    (its ancestors are the later rows of smaller depths)."""
    for _, row_depth, name in later_rows:
        if row_depth < depth:
            depth = row_depth
            if name.split(".")[0] in ours - {package}:
                return name
    return "the handler"


def layer_size() -> None:
    """The layer much as sam build makes it: the requirements and the twittnow package
    under python/; unzipped (Lambda's limit: 250 MB with the function) and zipped."""
    with tempfile.TemporaryDirectory() as build:
        target = Path(build) / "python"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(LAYER_DIR / "requirements.txt"),
                "--target",
                str(target),
            ],
            capture_output=True,
            check=True,
        )
        shutil.copytree(
            LAYER_DIR / "twittnow",
            target / "twittnow",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        files = [path for path in target.rglob("*") if path.is_file()]
        unzipped = sum(path.stat().st_size for path in files)
        archive = Path(build) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as layer_zip:
            for path in files:
                layer_zip.write(path, path.relative_to(build))
        zipped = archive.stat().st_size
        by_package: Counter = Counter()
        for path in files:
            by_package[path.relative_to(target).parts[0]] += path.stat().st_size
    largest = ", ".join(f"{name} {size / 2**20:.1f}" for name, size in by_package.most_common(5))
    print(
        f"  layer (pip install -r {LAYER_DIR.relative_to(REPO_ROOT)}/requirements.txt "
        f"--target, + twittnow): {unzipped / 2**20:.1f} MiB unzipped, "
        f"{zipped / 2**20:.1f} MiB zipped"
    )
    print(f"    largest (MiB): {largest}")


if __name__ == "__main__":
    main()
