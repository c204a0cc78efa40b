-- Converted views ($1 = first day, $2 = last day): views that carry a Turnstile email.
-- Converted = conversion_data.email non-empty, or conversion_type non-empty and email non-empty;
-- the email is conversion_data.email when present, else email, trimmed.
CREATE OR REPLACE TEMP TABLE _converted_candidates AS
SELECT
    e.*,
    strip_ws(CASE WHEN nullif(strip_ws(e.conversion_email), '') IS NOT NULL THEN e.conversion_email
              WHEN e.conversion_type <> '' AND nullif(strip_ws(e.email), '') IS NOT NULL THEN e.email
         END) AS turnstile_email
FROM wistia_events AS e
WHERE e.day BETWEEN $1 AND $2;

CREATE OR REPLACE TEMP TABLE _email_validity AS
SELECT turnstile_email AS email, is_valid_email(turnstile_email) AS valid
FROM (SELECT DISTINCT turnstile_email FROM _converted_candidates WHERE turnstile_email IS NOT NULL);

INSERT INTO converted_views
SELECT
    c.day, c.event_key, c.received_at,
    c.turnstile_email                                   AS email,
    lower(c.turnstile_email)                            AS email_lower,
    split_part(lower(c.turnstile_email), '@', 2)        AS email_domain,
    c.first_name, c.last_name, c.percent_viewed, c.media_id, c.media_name,
    nullif(trim(c.iframe_heatmap_url), '')              AS heatmap_url
FROM _converted_candidates AS c
JOIN _email_validity AS v ON v.email = c.turnstile_email AND v.valid
WHERE c.event_key IS NOT NULL;

INSERT INTO view_rejections
SELECT c.day, c.event_key, '*', 'converted_views',
       CASE WHEN c.turnstile_email IS NULL THEN 'not_converted' ELSE 'invalid_email' END,
       CASE WHEN c.turnstile_email IS NULL THEN NULL ELSE c.turnstile_email END
FROM _converted_candidates AS c
LEFT JOIN _email_validity AS v ON v.email = c.turnstile_email
WHERE c.event_key IS NOT NULL AND (c.turnstile_email IS NULL OR NOT v.valid);
