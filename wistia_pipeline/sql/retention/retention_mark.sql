-- What retention removes now, marked in temp tables that retention_due counts and retention_scrub
-- uses (one decision for both):
--   _retention_held: views a destination has not settled (pending or in flight): their post needs
--     their data, so they keep it until settled;
--   _retention_emails: the emails (lower-cased) of views past retention that no kept or held view
--     has: no copy of them may stay, in a look-up answer either;
--   _retention_lookups: the look-up answers to delete: older than the cutoff, or asked for, or
--     holding, such an email (a domain's answer is dropped whole: it is asked again when needed).
-- Parameters:
--   $cutoff: the first day kept; every day before it is past retention
CREATE OR REPLACE TEMP TABLE _retention_held AS
SELECT DISTINCT event_key FROM synced_ledger WHERE status IN ('pending', 'in_flight');

CREATE OR REPLACE TEMP TABLE _retention_emails AS
WITH viewer AS (
    SELECT e.day, e.event_key, lower(viewer_email(e.conversion_email, e.email)) AS email
    FROM wistia_events AS e
    WHERE e.email IS NOT NULL OR e.conversion_email IS NOT NULL
)
SELECT DISTINCT email FROM viewer
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held) AND email <> ''
EXCEPT
SELECT email FROM viewer
WHERE day >= $cutoff OR event_key IN (SELECT event_key FROM _retention_held);

CREATE OR REPLACE TEMP TABLE _retention_lookups AS
SELECT kind, asked FROM upsales_lookups
WHERE looked_up_at < CAST($cutoff AS TIMESTAMP)
   OR (kind = 'email' AND asked IN (SELECT email FROM _retention_emails))
UNION
SELECT DISTINCT kind, asked FROM upsales_lookup_contacts
WHERE email_lower IN (SELECT email FROM _retention_emails);
