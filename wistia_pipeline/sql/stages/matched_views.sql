-- Match converted views to Upsales, for the destinations that take matched views (the activity
-- log; their reasons are recorded for each).
-- 1. contact: an active contact with the same email; several -> latest modDate, then highest id.
-- 2. account: active contacts on the same (non-personal) domain; one account, or the account with
--    the most such contacts; a tie is ambiguous_domain.
-- 3. otherwise no_match.
-- A staged contact serves exact matches unless exact_ok is false, and counts toward its domain's
-- accounts unless domain_ok is false (lookup_stage_cached.sql: old answers only where no view
-- about to be posted can depend on them).
-- Parameters:
--   $first: the first day
--   $last: the last day
--   $matched_destinations: the destinations that take matched views (sinks/registry.py)
CREATE OR REPLACE TEMP TABLE _exact_matches AS
SELECT v.day, v.event_key, c.id AS contact_id, c.name AS contact_name, c.client_id, c.client_name
FROM converted_views AS v
JOIN _upsales_contacts AS c
  ON c.email_lower = v.email_lower AND c.active = 1 AND c.client_id IS NOT NULL AND c.id IS NOT NULL
 AND c.exact_ok IS NOT false
WHERE v.day BETWEEN $first AND $last
QUALIFY row_number() OVER (PARTITION BY v.day, v.event_key
                           ORDER BY c.mod_date DESC NULLS LAST, c.id DESC) = 1;

CREATE OR REPLACE TEMP TABLE _domain_accounts AS
WITH per_account AS (
    SELECT email_domain, client_id, max(client_name) AS client_name, count(DISTINCT id) AS contacts
    FROM _upsales_contacts
    WHERE active = 1 AND client_id IS NOT NULL AND email_domain <> '' AND domain_ok IS NOT false
    GROUP BY email_domain, client_id
), ranked AS (
    SELECT *,
           rank() OVER (PARTITION BY email_domain ORDER BY contacts DESC) AS place,
           count(*) OVER (PARTITION BY email_domain, contacts) AS sharing_count
    FROM per_account
)
SELECT email_domain, client_id, client_name, contacts, sharing_count > 1 AS tied
FROM ranked
WHERE place = 1
QUALIFY row_number() OVER (PARTITION BY email_domain ORDER BY client_id) = 1;

-- The personal-domain rule (Python) once per distinct domain of the window, not per view.
CREATE OR REPLACE TEMP TABLE _view_domains AS
SELECT email_domain, is_personal_domain(email_domain) AS personal
FROM (SELECT DISTINCT email_domain FROM converted_views WHERE day BETWEEN $first AND $last);

CREATE OR REPLACE TEMP TABLE _match_results AS
SELECT
    v.*,
    CASE WHEN x.event_key IS NOT NULL THEN 'contact'
         WHEN p.personal THEN NULL
         WHEN d.email_domain IS NOT NULL AND NOT d.tied THEN 'account' END     AS match_type,
    x.contact_id,
    x.contact_name,
    coalesce(x.client_id, CASE WHEN NOT d.tied THEN d.client_id END)          AS client_id,
    coalesce(x.client_name, CASE WHEN NOT d.tied THEN d.client_name END)      AS client_name,
    CASE WHEN x.event_key IS NOT NULL THEN NULL
         WHEN p.personal THEN 'personal_domain'
         WHEN d.email_domain IS NULL THEN 'no_match'
         WHEN d.tied THEN 'ambiguous_domain' END                               AS reason
FROM converted_views AS v
LEFT JOIN _exact_matches AS x ON x.day = v.day AND x.event_key = v.event_key
LEFT JOIN _domain_accounts AS d ON d.email_domain = v.email_domain
JOIN _view_domains AS p ON p.email_domain = v.email_domain
WHERE v.day BETWEEN $first AND $last;

INSERT INTO matched_views
SELECT day, event_key, received_at, email, percent_viewed, media_id, media_name, heatmap_url,
       match_type, contact_id, contact_name, client_id, client_name
FROM _match_results
WHERE reason IS NULL;

INSERT INTO view_rejections
SELECT r.day, r.event_key, d.destination, 'matched_views', r.reason, r.email_domain
FROM _match_results AS r
CROSS JOIN (SELECT unnest($matched_destinations::VARCHAR[]) AS destination) AS d
WHERE r.reason IS NOT NULL;

-- Free the working tables now rather than when the connection closes.
DROP TABLE _exact_matches;
DROP TABLE _domain_accounts;
DROP TABLE _view_domains;
DROP TABLE _match_results;
