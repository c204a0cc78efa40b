"""The ledger's steps (issue #12): a step per destination on the run's page, each failing on its
own; re-executing the failed step, as the UI's "Re-execute from failure" does, posts the rest of
that destination and nothing twice."""

from __future__ import annotations

import dagster as dg
import pytest

from wistia_pipeline.automation import SYNC_JOB_NAME, range_tags
from wistia_pipeline.definitions import build_defs
from wistia_pipeline.sandbox.faults import Fault
from wistia_pipeline.stages.ledger import SYNCED_LEDGER
from wistia_pipeline_tests.reliability.world import assert_complete, ledger_rows

pytestmark = pytest.mark.e2e


def sync_job() -> dg.JobDefinition:
    """The sync job, reconstructable (a re-execution loads the job again, as the UI's does)."""
    return build_defs().resolve_job_def(SYNC_JOB_NAME)


def step_states(result: dg.ExecuteJobResult) -> dict[str, str]:
    """step key -> how it ended, for the steps that ran."""
    return {e.step_key: e.event_type_value for e in result.all_events if e.is_step_success or e.is_step_failure}


def test_the_ledger_has_one_step_per_destination_between_queueing_and_the_outcomes():
    graph = sync_job().graph.node_named("synced_ledger").definition
    upstream = {node.name: {dep.node.name for deps in graph.dependency_structure.input_to_upstream_outputs_for_node(
        node.name).values() for dep in deps} for node in graph.nodes}
    assert upstream == {"queue_views": set(), "post_activities": {"queue_views"}, "post_forms": {"queue_views"},
                        "record_outcomes": {"queue_views", "post_activities", "post_forms"}}


def test_a_failed_destination_fails_alone_and_its_reexecution_completes(sandbox, pipeline_env, world):
    # Upsales cannot create forms: the forms destination stops before it posts anything.
    sandbox.upsales.inject(Fault(500, count=100, path_prefix="/v2/forms", method="POST"))
    with dg.instance_for_test(temp_dir=pipeline_env["DAGSTER_HOME"]) as instance:
        first = dg.execute_job(dg.reconstructable(sync_job), instance=instance,
                               tags=range_tags(world.first, world.last), raise_on_error=False)
        assert not first.success
        states = step_states(first)
        assert states["synced_ledger.queue_views"] == "STEP_SUCCESS"
        assert states["synced_ledger.post_activities"] == "STEP_SUCCESS"
        assert states["synced_ledger.post_forms"] == "STEP_FAILURE"
        assert "synced_ledger.record_outcomes" not in states  # it waits for every destination
        started = [e.step_key for e in first.all_events if e.event_type_value == "STEP_START"]
        assert started.index("synced_ledger.post_activities") < started.index("synced_ledger.post_forms")
        (failure,) = [e for e in first.all_events if e.is_step_failure]
        assert "First: forms: " in failure.step_failure_data.user_failure_data.description
        # What the failed step did is on its failure; the other destination's counts on its output.
        assert failure.step_failure_data.user_failure_data.metadata["forms/unresolved"].value == 0
        posted = [e for e in first.all_events if e.is_successful_output and e.step_key == "synced_ledger.post_activities"]
        assert posted[0].step_output_data.metadata["activities/posted"].value == len(world.activity_keys)
        assert not first.asset_materializations_for_node("synced_ledger")
        # Every activity is in Upsales, no form submission; both destinations' views are queued.
        assert len(sandbox.upsales.events) == len(world.activity_keys)
        assert sandbox.upsales.form_submits == []
        assert {(d, s) for d, _, s, _ in ledger_rows(pipeline_env["WISTIA_PIPELINE_DB"])} == {
            ("activities", "posted"), ("forms", "pending")}

        sandbox.upsales.clear_faults()  # Upsales creates forms again
        # The UI's re-execution keeps the parent run's tags (its partition range); execute_job needs them given.
        again = dg.execute_job(dg.reconstructable(sync_job), instance=instance, raise_on_error=False,
                               tags=range_tags(world.first, world.last),
                               reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance))
        assert again.success
        # Only the failed step and what follows it ran again: the activities are not posted twice.
        assert {step for step in step_states(again) if step.startswith("synced_ledger.")} == {
            "synced_ledger.post_forms", "synced_ledger.record_outcomes"}
        materialized = again.asset_materializations_for_node("synced_ledger")
        assert materialized and materialized[0].asset_key == SYNCED_LEDGER
        metadata = materialized[0].metadata
        assert metadata["forms/posted"].value == len(world.form_keys)
        # The other step's counts come from the first run's output.
        assert metadata["activities/posted"].value == len(world.activity_keys)
    assert_complete(sandbox, pipeline_env["WISTIA_PIPELINE_DB"], world, "after the re-execution")
