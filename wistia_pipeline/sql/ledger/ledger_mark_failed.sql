-- The post failed: the row's new status, and the attempt kept in ledger_attempts.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
--   $event_key: the view
--   $status: the row's new status: 'in_flight' when it may still have reached Upsales and must be
--     looked up next time, 'pending' when Upsales refused it and it stays queued, 'rejected' when
--     Upsales refused it while accepting other views
--   $error: the error in one line (Upsales' reason, kept for `explain`)
--   $run_id: this run's id
--   $outcome: what happened (unconfirmed | refused | rejected), kept in ledger_attempts
UPDATE synced_ledger
SET status = $status, last_error = $error
WHERE destination = $destination AND event_key = $event_key AND status = 'in_flight';

INSERT INTO ledger_attempts
VALUES ($destination, $event_key, now() AT TIME ZONE 'UTC', $run_id, $outcome, $error);
