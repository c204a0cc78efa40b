-- Unconfirmed rows of erased viewers (`wistia-pipeline forget`) that the reconciliation just
-- looked for in Upsales and did not find: their views are suppressed, so no run posts them again,
-- and kept in flight they would be reported unresolved by every run. Runs after the found ones are
-- marked posted (reconcile_in_flight), so a view Upsales holds keeps its row and its id.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
DELETE FROM synced_ledger AS l
WHERE l.destination = $destination
  AND l.status = 'in_flight'
  AND EXISTS (SELECT 1 FROM wistia_events AS e WHERE e.event_key = l.event_key AND e.input_problem = 'suppressed');
