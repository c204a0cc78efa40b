-- The post failed: $1 destination, $2 event_key, $3 status ('in_flight' when it may still have
-- reached Upsales and must be looked up next time, 'rejected' when Upsales refused it for good),
-- $4 the error in one line (Upsales' reason, kept for `explain`).
UPDATE synced_ledger
SET status = $3, last_error = $4
WHERE destination = $1 AND event_key = $2 AND status = 'in_flight';
