-- Claim a view for posting ($1 destination, $2 event_key, $3 day, $4 external_id, $5 client_id,
-- $6 contact_id, $7 score, $8 value, $9 form_id, $10 form_name, $11 run_id): the intent is
-- recorded before the request leaves. The unique key (destination, event_key) lets only one run
-- hold a view: a queued (`pending`) row is taken, or a new row inserted, or a row an earlier run
-- left in flight (and this run found absent in Upsales) is taken over. A row already posted or
-- rejected, or in flight for this same run, is left alone and nothing is returned: the caller
-- must not post.
INSERT INTO synced_ledger
    (destination, event_key, day, status, external_id, client_id, contact_id, score, value,
     form_id, form_name, attempts, first_seen_at, run_id)
VALUES ($1, $2, $3, 'in_flight', $4, $5, $6, $7, $8, $9, $10, 1, now() AT TIME ZONE 'UTC', $11)
ON CONFLICT (destination, event_key) DO UPDATE SET
    status = 'in_flight',
    attempts = synced_ledger.attempts + 1,
    run_id = excluded.run_id,
    external_id = excluded.external_id,
    value = excluded.value,
    client_id = excluded.client_id,
    contact_id = excluded.contact_id,
    score = excluded.score,
    form_id = excluded.form_id,
    form_name = excluded.form_name
WHERE synced_ledger.status = 'pending'
   OR (synced_ledger.status = 'in_flight' AND synced_ledger.run_id IS DISTINCT FROM excluded.run_id)
RETURNING attempts;
