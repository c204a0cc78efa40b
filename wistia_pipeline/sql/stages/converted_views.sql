-- Converted views: views that carry a Turnstile email.
-- Converted = conversion_data.email non-empty, or conversion_type non-empty and email non-empty;
-- the email is conversion_data.email when present, else email, trimmed (the macros
-- turnstile_email and viewer_email, schema.sql). Reasons, first that
-- applies: suppressed (an erased viewer: `wistia-pipeline forget`; its email was not stored, so no
-- stage can match or post it), missing_event_key / invalid_received_at (unusable input),
-- not_converted, invalid_email (syntax), invalid_percent_viewed (null, not a number, outside 0..1).
-- Parameters:
--   $first: the first day
--   $last: the last day
CREATE OR REPLACE TEMP TABLE _converted_candidates AS
SELECT
    e.day, e.event_key, e.received_at, e.first_name, e.last_name, e.percent_viewed, e.media_id,
    e.media_name, e.iframe_heatmap_url, e.input_problem,
    turnstile_email(e.conversion_email, e.email, e.conversion_type) AS turnstile_email
FROM wistia_events AS e
WHERE e.day BETWEEN $first AND $last;

-- Once per distinct email; the Python check only for what the plain pattern does not vouch for.
CREATE OR REPLACE TEMP TABLE _email_validity AS
SELECT turnstile_email AS email,
       CASE WHEN is_plain_email(turnstile_email) THEN true ELSE is_valid_email(turnstile_email) END AS valid
FROM (SELECT DISTINCT turnstile_email FROM _converted_candidates WHERE turnstile_email IS NOT NULL);

-- Why each view stops here (NULL: it is converted), first reason that applies.
CREATE OR REPLACE TEMP TABLE _converted_reasons AS
SELECT c.day, c.event_key, c.turnstile_email,
       CASE WHEN c.input_problem IN ('suppressed', 'missing_event_key', 'invalid_received_at') THEN c.input_problem
            WHEN c.turnstile_email IS NULL THEN 'not_converted'
            WHEN NOT v.valid THEN 'invalid_email'
            WHEN c.input_problem IS NOT NULL THEN c.input_problem END AS reason
FROM _converted_candidates AS c
LEFT JOIN _email_validity AS v ON v.email = c.turnstile_email;

INSERT INTO converted_views
SELECT
    c.day, c.event_key, c.received_at,
    c.turnstile_email                                   AS email,
    lower(c.turnstile_email)                            AS email_lower,
    split_part(lower(c.turnstile_email), '@', 2)        AS email_domain,
    c.first_name, c.last_name, c.percent_viewed, c.media_id, c.media_name,
    nullif(strip_ws(c.iframe_heatmap_url), '')          AS heatmap_url
FROM _converted_candidates AS c
JOIN _email_validity AS v ON v.email = c.turnstile_email
WHERE v.valid AND c.input_problem IS NULL;

INSERT INTO view_rejections
SELECT day, event_key, '*', 'converted_views', reason,
       CASE reason WHEN 'invalid_email' THEN left(turnstile_email, 200) END
FROM _converted_reasons
WHERE reason IS NOT NULL;

-- Free the working tables now rather than when the connection closes.
DROP TABLE _converted_candidates;
DROP TABLE _email_validity;
DROP TABLE _converted_reasons;
