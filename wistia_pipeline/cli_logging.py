"""What `wistia-pipeline sync` prints while its run goes: a line per warning, no tracebacks.

The run's own summary (funnel, counts, `Run FAILED: <one line>`) is printed when it ends, so the
step-failure and run-failure events, each with a full traceback, would only repeat it twice at
length. They stay in the run's event log (the Dagster UI) and `--verbose` prints them here too.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

LOGGER_NAME = "wistia_pipeline.cli_run"
META = "dagster_meta"  # the attribute Dagster's log manager puts on each record


class OneLineFormatter(logging.Formatter):
    """`warning: synced_ledger: <the message's first line>`."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, META, None) or {}
        text = str(meta.get("orig_message") or record.getMessage())
        first = next((line for line in text.splitlines() if line.strip()), "")
        return f"{record.levelname.lower()}: {meta.get('step_key') or 'run'}: {first}"


class WithoutEvents(logging.Filter):
    """Drops Dagster's own events (step failures, the run's failure) and its notes on the steps
    it skipped after a failure: the summary says what they say, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, META, None) or {}
        if meta.get("dagster_event") is not None:
            return False
        return not str(meta.get("orig_message") or "").startswith("Dependencies for step")


@dg.logger(
    config_schema={"verbose": dg.Field(bool, default_value=False,
                                       description="Everything from INFO up, tracebacks included.")},
    description="The CLI's console: warnings in one line each; with verbose, Dagster's full log.",
)
def cli_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    verbose = init_context.logger_config["verbose"]
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        logger.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    else:
        logger.setLevel(logging.WARNING)
        handler.setFormatter(OneLineFormatter())
        handler.addFilter(WithoutEvents())
    logger.addHandler(handler)
    return logger
