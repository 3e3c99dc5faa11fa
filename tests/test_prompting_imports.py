"""`kata check prompting` stays light: its graders never import torch or transformers.

Importing torch alone takes seconds, longer than every prompting grader
together, so the string-only kata must not pay for it unless the learner's
own code imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from checker import REPO_ROOT

HEAVY_PACKAGES = ("torch", "transformers", "numpy")

# Run the graders in-process in a fresh interpreter, then list which heavy
# packages ended up in sys.modules.
PROBE = """
import json, sys
import pytest
status = pytest.main([sys.argv[1], "-p", "checker.plugin", "-p", "no:cacheprovider", "-q", "--no-header"])
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[2].split(",")))
print("PROBE " + json.dumps({"status": int(status), "heavy": heavy}))
"""


def test_prompting_graders_import_no_torch():
    env = dict(os.environ, KATA_IMPL="solutions", KATA_HYPOTHESIS_PROFILE="ci", PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    grader = REPO_ROOT / "checker" / "graders" / "test_prompting.py"

    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(grader), ",".join(HEAVY_PACKAGES)],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300,
    )

    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, done.stdout[-2000:] + done.stderr[-2000:]
    probe = json.loads(lines[-1][len("PROBE "):])
    assert probe["status"] == 0, done.stdout[-3000:]
    assert probe["heavy"] == [], f"the prompting graders imported {probe['heavy']}"
