-- Stage one page of Upsales contacts for matching.
-- Parameters:
--   $page: the page as JSON text
INSERT INTO _upsales_contacts (id, email_lower, email_domain, name, active, mod_date, client_id, client_name)
SELECT
    TRY_CAST(value ->> 'id' AS BIGINT)                               AS id,
    lower(strip_ws(value ->> 'email'))                                   AS email_lower,
    split_part(lower(strip_ws(value ->> 'email')), '@', 2)               AS email_domain,
    coalesce(nullif(trim(value ->> 'name'), ''),
             nullif(trim(concat_ws(' ', value ->> 'firstName', value ->> 'lastName')), '')) AS name,
    TRY_CAST(value ->> 'active' AS INTEGER)                          AS active,
    TRY_CAST(value ->> 'modDate' AS TIMESTAMPTZ) AT TIME ZONE 'UTC'  AS mod_date,
    TRY_CAST(value -> 'client' ->> 'id' AS BIGINT)                   AS client_id,
    value -> 'client' ->> 'name'                                     AS client_name
FROM json_each($page);
