-- Claim a view for posting: the intent is recorded before the request leaves. The unique key
-- (destination, event_key) lets only one run hold a view: a queued (`pending`) row is taken, or a
-- new row inserted, or a row an earlier run left in flight (and this run found absent in Upsales)
-- is taken over. A row already posted or rejected, or in flight for this same run, is left alone
-- and nothing is returned: the caller must not post.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
--   $event_key: the view
--   $day: the view's day
--   $external_id: the post's externalId (the sink's ledger_facts, as the next seven)
--   $client_id: the Upsales account (NULL where it does not apply)
--   $contact_id: the Upsales contact (NULL where it does not apply)
--   $score: the activity's score (NULL where it does not apply)
--   $value: what was posted, in one line
--   $form_id: forms: the Upsales form the view goes to (else NULL)
--   $form_name: forms: that form's name (else NULL)
--   $notified: activities: whether the post carries notify (else NULL)
--   $run_id: this run's id
INSERT INTO synced_ledger
    (destination, event_key, day, status, external_id, client_id, contact_id, score, value,
     form_id, form_name, notified, attempts, first_seen_at, run_id)
VALUES ($destination, $event_key, $day, 'in_flight', $external_id, $client_id, $contact_id, $score, $value,
        $form_id, $form_name, $notified, 1, now() AT TIME ZONE 'UTC', $run_id)
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
    form_name = excluded.form_name,
    notified = excluded.notified
WHERE synced_ledger.status = 'pending'
   OR (synced_ledger.status = 'in_flight' AND synced_ledger.run_id IS DISTINCT FROM excluded.run_id)
RETURNING attempts;
