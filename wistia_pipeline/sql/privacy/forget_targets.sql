-- What `forget` erases: every row of every table that holds one person's email, found by the
-- email's hash in the columns that hold an email and by a mention in the free texts (raw JSON,
-- Upsales' error texts, the ledger's copy of the posted text). Nothing is changed here: the
-- temp table _forget_rows lists each row (table, rowid), so the counts shown and the rows
-- erased (forget_erase.sql, in the same transaction) are the same rows.
-- Parameters:
--   $email: the email, trimmed and lower-cased (NULL: only its hash is known, the job's
--     email_sha256; free texts are then searched for email-like words with that hash)
--   $email_json: the email as JSON text writes it (non-ASCII as \u escapes), lower-cased (NULL with $email)
--   $email_sha256: email_sha256() of the email (schema.sql)
CREATE OR REPLACE TEMP TABLE _forget AS
SELECT $email::VARCHAR AS email, $email_json::VARCHAR AS email_json, $email_sha256::VARCHAR AS email_sha256;

-- A text mentions the person: it contains the email (any case, also JSON-escaped), or a word
-- shaped like an email whose hash is the person's. (\x3b is a semicolon: none in a literal here.)
CREATE OR REPLACE TEMP MACRO _forget_mentions(text) AS
    text IS NOT NULL AND (
        coalesce(contains(lower(text), (SELECT email FROM _forget)), false)
        OR coalesce(contains(lower(text), (SELECT email_json FROM _forget)), false)
        OR list_contains(list_transform(regexp_extract_all(lower(text), '[^\s"''<>(),\x3b:\[\]{}/\\]+@[^\s"''<>(),\x3b:\[\]{}/\\]+'),
                                        lambda w: sha256(rtrim(w, '.'))),
                         (SELECT email_sha256 FROM _forget)));

CREATE OR REPLACE TEMP MACRO _forget_is(e) AS coalesce(email_sha256(e) = (SELECT email_sha256 FROM _forget), false);

-- The person's views: by the email columns of every stage, or a mention in the raw JSON.
CREATE OR REPLACE TEMP TABLE _forget_keys AS
SELECT DISTINCT event_key FROM (
    SELECT event_key FROM wistia_events
    WHERE _forget_is(email) OR _forget_is(conversion_email) OR _forget_mentions(CAST(raw AS VARCHAR))
    UNION ALL SELECT event_key FROM converted_views WHERE _forget_is(email)
    UNION ALL SELECT event_key FROM matched_views WHERE _forget_is(email)
    UNION ALL SELECT event_key FROM filtered_views WHERE _forget_is(email)
    UNION ALL SELECT event_key FROM view_outcomes WHERE _forget_is(email)
    UNION ALL SELECT event_key FROM view_rejections WHERE _forget_mentions(detail)
);

CREATE OR REPLACE TEMP TABLE _forget_rows AS
SELECT 'wistia_events' AS table_name, rowid AS rid FROM wistia_events
WHERE event_key IN (SELECT event_key FROM _forget_keys)
UNION ALL SELECT 'converted_views', rowid FROM converted_views WHERE event_key IN (SELECT event_key FROM _forget_keys)
UNION ALL SELECT 'matched_views', rowid FROM matched_views WHERE event_key IN (SELECT event_key FROM _forget_keys)
UNION ALL SELECT 'filtered_views', rowid FROM filtered_views WHERE event_key IN (SELECT event_key FROM _forget_keys)
-- Every reason of the person's views but a `suppressed` already recorded; any other mention.
UNION ALL SELECT 'view_rejections', rowid FROM view_rejections
WHERE (event_key IN (SELECT event_key FROM _forget_keys) AND reason <> 'suppressed') OR _forget_mentions(detail)
UNION ALL SELECT 'view_outcomes', rowid FROM view_outcomes
WHERE (event_key IN (SELECT event_key FROM _forget_keys) AND reason IS DISTINCT FROM 'suppressed') OR _forget_is(email)
UNION ALL SELECT 'synced_ledger', rowid FROM synced_ledger
WHERE (event_key IN (SELECT event_key FROM _forget_keys)
       AND (status = 'pending' OR value IS NOT NULL OR last_error IS NOT NULL OR contact_id IS NOT NULL OR client_id IS NOT NULL))
   OR _forget_mentions(value) OR _forget_mentions(last_error)
UNION ALL SELECT 'ledger_attempts', rowid FROM ledger_attempts
WHERE (event_key IN (SELECT event_key FROM _forget_keys) AND error IS NOT NULL) OR _forget_mentions(error)
UNION ALL SELECT 'upsales_lookups', rowid FROM upsales_lookups WHERE kind = 'email' AND _forget_is(asked)
UNION ALL SELECT 'upsales_lookup_contacts', rowid FROM upsales_lookup_contacts
WHERE (kind = 'email' AND _forget_is(asked)) OR _forget_is(email_lower) OR _forget_mentions(name);
