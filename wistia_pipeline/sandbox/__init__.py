"""Local emulators of the Wistia and Upsales APIs plus demo data, so the pipeline can be run,
tested and demonstrated end to end without real accounts or network access."""

from .demo import DemoScenario, load_demo
from .runner import Sandbox, run_sandbox

__all__ = ["DemoScenario", "Sandbox", "load_demo", "run_sandbox"]
