-- Type the staged Wistia pages into wistia_events for the window's days.
-- Parameters:
--   $first: the window's first day
--   $last: the window's last day
--
-- Each view's day is the UTC day of its `received_at` (the day Wistia was asked for only when
-- received_at does not parse): a view is never dated a day off, whatever Wistia's days are. The
-- pages may hold days beyond the window (WISTIA_EXTRA_DAYS, for an account whose Wistia days are
-- not UTC days); views that fall outside the window are left to the runs of their own days.
-- One row per event_key (the copy with the highest percent_viewed: a live session only grows).
-- Values that do not parse become NULL and an `input_problem` that the next stage records as the
-- view's reason; a bad event never stops the others. An event without a key gets a stable
-- stand-in key (a hash of its JSON) so that it can be counted and explained, never posted.
--
-- Each event's JSON is parsed once (json_transform into the fields used) and the rows stream
-- straight into the table: a key seen twice is rare (a page shifting while views arrive), so
-- duplicates are settled afterwards on those keys alone instead of ranking a million raw rows.
--
-- An event of an erased viewer (its email or Turnstile email in suppressed_emails, by hash) is
-- kept, so the funnel still counts it, but without its email, names, visitor key, heatmap link
-- and raw JSON (`erased_raw`), with input_problem `suppressed`: its personal data is never
-- stored again (`wistia-pipeline forget`). The hashes are computed only while the list is not empty.
CREATE OR REPLACE TEMP MACRO _typed_wistia_events(first_day, last_day, wanted) AS TABLE
WITH parsed AS (
    SELECT day, page_no, position, raw,
           json_transform(raw, '{"event_key": "JSON", "received_at": "JSON", "visitor_key": "JSON",
                                 "email": "JSON", "percent_viewed": "JSON", "conversion_type": "JSON",
                                 "conversion_data": "JSON", "media_id": "JSON", "media_name": "JSON",
                                 "iframe_heatmap_url": "JSON"}') AS j
    FROM _wistia_event_pages
    WHERE wanted
), typed AS (
    SELECT
        day AS asked_day, page_no, position, raw, j,
        nullif(strip_ws(j.event_key ->> '$'), '')                              AS given_key,
        TRY_CAST(j.received_at ->> '$' AS TIMESTAMPTZ) AT TIME ZONE 'UTC'      AS received_at,
        CASE WHEN json_type(j.percent_viewed) IN ('DOUBLE', 'UBIGINT', 'BIGINT')
             THEN TRY_CAST(j.percent_viewed ->> '$' AS DOUBLE) END             AS percent_viewed,
        CASE WHEN NOT EXISTS (SELECT 1 FROM suppressed_emails) THEN false
             ELSE coalesce(email_sha256(j.email ->> '$') IN (SELECT email_sha256 FROM suppressed_emails), false)
               OR coalesce(json_type(j.conversion_data) = 'OBJECT'
                           AND email_sha256(j.conversion_data ->> 'email') IN (SELECT email_sha256 FROM suppressed_emails),
                           false) END                                          AS suppressed
    FROM parsed
)
SELECT
    coalesce(CAST(received_at AS DATE), asked_day)                          AS day,
    coalesce(given_key, 'missing-key:' || md5(CAST(raw AS VARCHAR)))        AS event_key,
    received_at,
    CASE WHEN NOT suppressed THEN j.visitor_key ->> '$' END                 AS visitor_key,
    CASE WHEN NOT suppressed THEN j.email ->> '$' END                       AS email,
    percent_viewed,
    CASE WHEN json_type(j.conversion_type) = 'VARCHAR' THEN j.conversion_type ->> '$'
         WHEN json_type(j.conversion_type) IN ('DOUBLE', 'UBIGINT', 'BIGINT')
              AND TRY_CAST(j.conversion_type ->> '$' AS DOUBLE) <> 0
         THEN j.conversion_type ->> '$'
         ELSE '' END                                                        AS conversion_type,
    CASE WHEN json_type(j.conversion_data) = 'OBJECT' AND NOT suppressed
         THEN j.conversion_data ->> 'email' END                             AS conversion_email,
    CASE WHEN json_type(j.conversion_data) = 'OBJECT' AND NOT suppressed
         THEN j.conversion_data ->> 'first_name' END                        AS first_name,
    CASE WHEN json_type(j.conversion_data) = 'OBJECT' AND NOT suppressed
         THEN j.conversion_data ->> 'last_name' END                         AS last_name,
    j.media_id ->> '$'                                                      AS media_id,
    j.media_name ->> '$'                                                    AS media_name,
    CASE WHEN NOT suppressed THEN j.iframe_heatmap_url ->> '$' END          AS iframe_heatmap_url,
    CASE WHEN suppressed THEN 'suppressed'
         WHEN given_key IS NULL THEN 'missing_event_key'
         WHEN received_at IS NULL THEN 'invalid_received_at'
         WHEN percent_viewed IS NULL OR NOT isfinite(percent_viewed)
              OR percent_viewed < 0 OR percent_viewed > 1 THEN 'invalid_percent_viewed'
    END                                                                     AS input_problem,
    CASE WHEN suppressed THEN erased_raw(coalesce(given_key, 'missing-key:' || md5(CAST(raw AS VARCHAR))))
         ELSE raw END                                                       AS raw,
    now() AT TIME ZONE 'UTC'                                                AS loaded_at,
    page_no,
    position
FROM typed
WHERE coalesce(CAST(received_at AS DATE), asked_day) BETWEEN first_day AND last_day;

INSERT INTO wistia_events
SELECT * EXCLUDE (page_no, position) FROM _typed_wistia_events($first, $last, true);

CREATE OR REPLACE TEMP TABLE _wistia_duplicate_keys AS
SELECT day, event_key
FROM wistia_events
WHERE day BETWEEN $first AND $last
GROUP BY day, event_key
HAVING count(*) > 1;

DELETE FROM wistia_events
WHERE day BETWEEN $first AND $last
  AND (day, event_key) IN (SELECT (day, event_key) FROM _wistia_duplicate_keys);

-- Only when there are duplicates is the staging read again (`wanted` is false otherwise).
INSERT INTO wistia_events
SELECT * EXCLUDE (page_no, position)
FROM _typed_wistia_events($first, $last, EXISTS (SELECT 1 FROM _wistia_duplicate_keys))
WHERE (day, event_key) IN (SELECT (day, event_key) FROM _wistia_duplicate_keys)
QUALIFY row_number() OVER (PARTITION BY day, event_key ORDER BY percent_viewed DESC NULLS LAST, page_no, position) = 1;

DROP TABLE _wistia_duplicate_keys;
