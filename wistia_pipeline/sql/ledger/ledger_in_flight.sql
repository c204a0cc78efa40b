-- Ledger rows of a destination ($1) whose post was started but never confirmed (a crash or a
-- lost response): they are looked up in Upsales before anything is posted again.
SELECT event_key, external_id, form_id
FROM synced_ledger
WHERE destination = $1 AND status = 'in_flight'
ORDER BY first_seen_at, event_key;
