"""The CPU time a process spends loading the definitions of an accounts file of N accounts, as each
run worker does before its first step (and the code server at every start or reload).

    python -m benchmarks.definitions_load 1 50 100 200

Per N, in a fresh interpreter: importing dagster, building the definitions (account_defs), the
repository and the schedule's job, and one account's subset and execution plan (what a scheduled
run executes). The accounts point nowhere: nothing is run. docs/scaling.md uses the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def measure(count: int) -> str:
    """In this process (a fresh interpreter per N, see main): one line of CPU seconds."""
    directory = tempfile.mkdtemp(prefix="wistia_defs_")
    entries = [{"name": f"a{i:04d}", "wistia_api_token_env": f"A{i}_WISTIA", "upsales_api_token_env": f"A{i}_UPSALES"}
               for i in range(count)]
    path = Path(directory) / "accounts.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"WISTIA_PIPELINE_DB": directory + "/{name}.duckdb"},
                                    "accounts": entries}))
    os.environ["WISTIA_PIPELINE_ACCOUNTS"] = str(path)
    for i in range(count):  # the resources' EnvVars must resolve for an execution plan
        os.environ[f"A{i}_WISTIA"] = os.environ[f"A{i}_UPSALES"] = "benchmark-token-not-used"
    c0 = time.process_time()
    import dagster  # noqa: F401
    c1 = time.process_time()
    from wistia_pipeline import definitions
    c2 = time.process_time()
    repository = definitions.defs.get_repository_def()
    job = repository.get_job("wistia_sync")
    c3 = time.process_time()
    from dagster._core.execution.api import create_execution_plan

    keys = {key for key in repository.asset_graph.get_all_asset_keys() if key.path[0] == "a0000"}
    create_execution_plan(job.get_subset(asset_selection=keys))
    c4 = time.process_time()
    return (f"{count:>5} accounts: import dagster {c1 - c0:5.1f} s, build definitions {c2 - c1:6.1f} s, "
            f"repository and job {c3 - c2:6.1f} s, one account's plan {c4 - c3:4.1f} s; total CPU {c4 - c0:6.1f} s")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(measure(int(argv[1])), flush=True)
        return 0
    for count in [int(a) for a in argv] or [1, 50, 100, 200]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "benchmarks.definitions_load", "--one", str(count)], cwd=ROOT, env=env,
                       check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
