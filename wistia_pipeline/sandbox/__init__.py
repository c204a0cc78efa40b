"""Local emulators of the Wistia and Upsales APIs plus demo data, so the pipeline can be run,
tested and demonstrated end to end without real accounts or network access."""

from .demo import DemoScenario, load_demo
from .runner import Sandbox, run_sandbox
from .faults import Fault, inject_remote

__all__ = ["DemoScenario", "Fault", "Sandbox", "inject_remote", "load_demo", "run_sandbox"]
