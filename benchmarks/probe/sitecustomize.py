"""Benchmark-only: the CPU time and peak memory of each Dagster run worker, written when it exits.

`make bench-accounts` puts this folder first on the PYTHONPATH of the `dagster-daemon` it starts,
so every Python process of that tree imports it. Only the processes the code server spawns for a
run (multiprocessing's spawn children, `--multiprocessing-fork`) record anything: at exit, one JSON
file `<pid>.json` in $WISTIA_BENCH_PROBE_DIR with their own user and system CPU seconds and peak
RSS (getrusage of the process itself: exact, where sampling /proc would miss the last moments).
The benchmark matches a file to its run by the pid the run's "Started process for run (pid: N)"
event names. Nothing is recorded without the variable.
"""

import os
import sys

_DIR = os.environ.get("WISTIA_BENCH_PROBE_DIR")

if _DIR and "--multiprocessing-fork" in sys.argv:
    import atexit
    import json
    import resource
    import time

    _STARTED = time.time()

    def _record() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        record = {"pid": os.getpid(), "user": usage.ru_utime, "system": usage.ru_stime,
                  "max_rss": usage.ru_maxrss * 1024, "started": _STARTED, "ended": time.time()}
        path = os.path.join(_DIR, f"{os.getpid()}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(path + ".tmp", path)

    atexit.register(_record)
