-- Type the staged Wistia pages ($1 = first day, $2 = last day) into wistia_events.
-- One row per event_key (the copy with the highest percent_viewed: a live session only grows).
-- Values that do not parse become NULL and an `input_problem` that the next stage records as the
-- view's reason; a bad event never stops the others. An event without a key gets a stable
-- stand-in key (a hash of its JSON) so that it can be counted and explained, never posted.
INSERT INTO wistia_events
WITH typed AS (
    SELECT
        day, page_no, position, raw,
        nullif(strip_ws(raw ->> 'event_key'), '')                           AS given_key,
        TRY_CAST(raw ->> 'received_at' AS TIMESTAMPTZ) AT TIME ZONE 'UTC'   AS received_at,
        CASE WHEN json_type(raw -> 'percent_viewed') IN ('DOUBLE', 'UBIGINT', 'BIGINT')
             THEN TRY_CAST(raw ->> 'percent_viewed' AS DOUBLE) END           AS percent_viewed
    FROM _wistia_event_pages
    WHERE day BETWEEN $1 AND $2
)
SELECT
    day,
    coalesce(given_key, 'missing-key:' || md5(CAST(raw AS VARCHAR)))        AS event_key,
    received_at,
    raw ->> 'visitor_key'                                                   AS visitor_key,
    raw ->> 'email'                                                         AS email,
    percent_viewed,
    CASE WHEN json_type(raw -> 'conversion_type') = 'VARCHAR' THEN raw ->> 'conversion_type'
         WHEN json_type(raw -> 'conversion_type') IN ('DOUBLE', 'UBIGINT', 'BIGINT')
              AND TRY_CAST(raw ->> 'conversion_type' AS DOUBLE) <> 0
         THEN raw ->> 'conversion_type'
         ELSE '' END                                                        AS conversion_type,
    CASE WHEN json_type(raw -> 'conversion_data') = 'OBJECT'
         THEN raw -> 'conversion_data' ->> 'email' END                      AS conversion_email,
    CASE WHEN json_type(raw -> 'conversion_data') = 'OBJECT'
         THEN raw -> 'conversion_data' ->> 'first_name' END                 AS first_name,
    CASE WHEN json_type(raw -> 'conversion_data') = 'OBJECT'
         THEN raw -> 'conversion_data' ->> 'last_name' END                  AS last_name,
    raw ->> 'media_id'                                                      AS media_id,
    raw ->> 'media_name'                                                    AS media_name,
    raw ->> 'iframe_heatmap_url'                                            AS iframe_heatmap_url,
    CASE WHEN given_key IS NULL THEN 'missing_event_key'
         WHEN received_at IS NULL THEN 'invalid_received_at'
         WHEN percent_viewed IS NULL OR NOT isfinite(percent_viewed)
              OR percent_viewed < 0 OR percent_viewed > 1 THEN 'invalid_percent_viewed'
    END                                                                     AS input_problem,
    raw,
    now() AT TIME ZONE 'UTC'                                                AS loaded_at
FROM typed
QUALIFY row_number() OVER (
            PARTITION BY day, coalesce(given_key, 'missing-key:' || md5(CAST(raw AS VARCHAR)))
            ORDER BY percent_viewed DESC NULLS LAST, page_no, position) = 1;
