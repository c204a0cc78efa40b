-- Type the staged Wistia pages ($1 = first day, $2 = last day) into wistia_events.
-- One row per event_key (the copy with the highest percent_viewed: a live session only grows);
-- values that do not parse become NULL here and a recorded reason downstream, never an error.
INSERT INTO wistia_events
SELECT
    day,
    raw ->> 'event_key'                                                  AS event_key,
    TRY_CAST(raw ->> 'received_at' AS TIMESTAMPTZ) AT TIME ZONE 'UTC'    AS received_at,
    raw ->> 'visitor_key'                                                AS visitor_key,
    raw ->> 'email'                                                      AS email,
    CASE WHEN json_type(raw -> 'percent_viewed') IN ('DOUBLE', 'UBIGINT', 'BIGINT')
         THEN TRY_CAST(raw ->> 'percent_viewed' AS DOUBLE) END            AS percent_viewed,
    CASE WHEN json_type(raw -> 'conversion_type') = 'VARCHAR' THEN raw ->> 'conversion_type'
         WHEN json_type(raw -> 'conversion_type') IN ('DOUBLE', 'UBIGINT', 'BIGINT')
              AND TRY_CAST(raw ->> 'conversion_type' AS DOUBLE) <> 0
         THEN raw ->> 'conversion_type'
         ELSE '' END                                                     AS conversion_type,
    CASE WHEN json_type(raw -> 'conversion_data') = 'OBJECT'
         THEN raw -> 'conversion_data' ->> 'email' END                   AS conversion_email,
    CASE WHEN json_type(raw -> 'conversion_data') = 'OBJECT'
         THEN raw -> 'conversion_data' ->> 'first_name' END              AS first_name,
    CASE WHEN json_type(raw -> 'conversion_data') = 'OBJECT'
         THEN raw -> 'conversion_data' ->> 'last_name' END               AS last_name,
    raw ->> 'media_id'                                                   AS media_id,
    raw ->> 'media_name'                                                 AS media_name,
    raw ->> 'iframe_heatmap_url'                                         AS iframe_heatmap_url,
    raw,
    now() AT TIME ZONE 'UTC'                                             AS loaded_at
FROM _wistia_event_pages
WHERE day BETWEEN $1 AND $2
QUALIFY raw ->> 'event_key' IS NULL
     OR row_number() OVER (
            PARTITION BY day, raw ->> 'event_key'
            ORDER BY CASE WHEN json_type(raw -> 'percent_viewed') IN ('DOUBLE', 'UBIGINT', 'BIGINT')
                          THEN TRY_CAST(raw ->> 'percent_viewed' AS DOUBLE) END DESC NULLS LAST,
                     page_no, position) = 1;
