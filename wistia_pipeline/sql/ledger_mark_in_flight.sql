-- Record the intent to post ($1 destination, $2 event_key, $3 day, $4 external_id, $5 client_id,
-- $6 contact_id, $7 score, $8 value, $9 form_id, $10 form_name, $11 run_id) before the request
-- leaves.
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
    form_name = excluded.form_name;
