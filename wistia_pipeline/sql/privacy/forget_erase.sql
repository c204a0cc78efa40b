-- Erase the rows forget_targets.sql found, in one transaction with it, and add the email's hash
-- to the suppression list. What is kept, and why:
-- - wistia_events: the row (the funnel counts every view Wistia reported) without the email,
--   names, visitor key, heatmap link and raw JSON (erased_raw), input_problem `suppressed`;
-- - the stage tables: the person's rows go; the view stops at converted_views with reason
--   `suppressed` (view_rejections), its outcome says so (view_outcomes, without the email);
-- - synced_ledger: what the no-duplicate guarantee needs (destination, event_key, day, status,
--   Upsales id, external_id, the form posted to, attempts and times); the posted text, Upsales'
--   error, the contact and account go. A `pending` row (never stored in Upsales) goes whole: a
--   suppressed view is never queued again;
-- - ledger_attempts: the history of each attempt without Upsales' text;
-- - upsales_lookups/_contacts: the look-up of the email goes; a contact with that email keeps,
--   without email and name, its id and account, so the domain's account count is unchanged;
-- - a mention in another row's free text (an error naming the email) replaces that text.
-- Parameters:
--   $erased_at: now (UTC), when the email joined the suppression list
CREATE OR REPLACE TEMP MACRO _forget_row(t) AS TABLE SELECT rid FROM _forget_rows WHERE table_name = t;

UPDATE wistia_events
SET email = NULL, conversion_email = NULL, first_name = NULL, last_name = NULL, visitor_key = NULL,
    iframe_heatmap_url = NULL, raw = erased_raw(event_key), input_problem = 'suppressed'
WHERE rowid IN (FROM _forget_row('wistia_events'));

DELETE FROM converted_views WHERE rowid IN (FROM _forget_row('converted_views'));
DELETE FROM matched_views WHERE rowid IN (FROM _forget_row('matched_views'));
DELETE FROM filtered_views WHERE rowid IN (FROM _forget_row('filtered_views'));

UPDATE view_rejections SET detail = NULL
WHERE rowid IN (FROM _forget_row('view_rejections')) AND event_key NOT IN (SELECT event_key FROM _forget_keys);
DELETE FROM view_rejections
WHERE rowid IN (FROM _forget_row('view_rejections')) AND event_key IN (SELECT event_key FROM _forget_keys);
INSERT INTO view_rejections
SELECT DISTINCT e.day, e.event_key, '*', 'converted_views', 'suppressed', NULL
FROM wistia_events AS e
WHERE e.event_key IN (SELECT event_key FROM _forget_keys)
  AND NOT EXISTS (SELECT 1 FROM view_rejections AS r WHERE r.day = e.day AND r.event_key = e.event_key
                  AND r.reason = 'suppressed');

UPDATE view_outcomes
SET email = NULL,
    outcome = CASE WHEN event_key IN (SELECT event_key FROM _forget_keys) THEN 'skipped' ELSE outcome END,
    reason = CASE WHEN event_key IN (SELECT event_key FROM _forget_keys) THEN 'suppressed' ELSE reason END,
    stage = CASE WHEN event_key IN (SELECT event_key FROM _forget_keys) THEN 'converted_views' ELSE stage END
WHERE rowid IN (FROM _forget_row('view_outcomes'));

DELETE FROM synced_ledger
WHERE rowid IN (FROM _forget_row('synced_ledger')) AND status = 'pending'
  AND event_key IN (SELECT event_key FROM _forget_keys);
UPDATE synced_ledger
SET value = NULL, last_error = NULL, contact_id = NULL, client_id = NULL
WHERE rowid IN (FROM _forget_row('synced_ledger'));

UPDATE ledger_attempts
SET error = CASE WHEN event_key IN (SELECT event_key FROM _forget_keys) THEN NULL
                 ELSE '[erased: the text named an erased viewer]' END
WHERE rowid IN (FROM _forget_row('ledger_attempts'));

DELETE FROM upsales_lookups WHERE rowid IN (FROM _forget_row('upsales_lookups'));
DELETE FROM upsales_lookup_contacts
WHERE rowid IN (FROM _forget_row('upsales_lookup_contacts')) AND kind = 'email' AND _forget_is(asked);
UPDATE upsales_lookup_contacts SET email_lower = NULL, name = NULL
WHERE rowid IN (FROM _forget_row('upsales_lookup_contacts'));

INSERT INTO suppressed_emails
SELECT email_sha256, $erased_at::TIMESTAMP FROM _forget
ON CONFLICT DO NOTHING;

DROP MACRO TABLE _forget_row;
DROP TABLE _forget_rows;
DROP TABLE _forget_keys;
DROP TABLE _forget;
