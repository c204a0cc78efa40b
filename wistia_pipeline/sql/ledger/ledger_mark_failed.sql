-- The post failed: $1 destination, $2 event_key, $3 the row's new status ('in_flight' when it may
-- still have reached Upsales and must be looked up next time, 'pending' when Upsales refused it
-- and it stays queued, 'rejected' when Upsales refused it while accepting other views), $4 the
-- error in one line (Upsales' reason, kept for `explain`), $5 run_id, $6 what happened
-- (unconfirmed | refused | rejected), kept in ledger_attempts.
UPDATE synced_ledger
SET status = $3, last_error = $4
WHERE destination = $1 AND event_key = $2 AND status = 'in_flight';

INSERT INTO ledger_attempts VALUES ($1, $2, now() AT TIME ZONE 'UTC', $5, $6, $4);
