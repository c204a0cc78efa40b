-- The company domains of days $1..$2 to look up this run, once the email answers are staged in
-- _upsales_contacts: the domains of views with no exact contact (personal domains never), asked
-- never before, or with such a view an answer could still bring to a post (not posted or
-- rejected in every destination of $6, passing the filters $4, $5: see lookup_emails_to_ask.sql) and an answer older than
-- $3. The personal-domain rule (Python) runs once per distinct domain, not once per view.
CREATE OR REPLACE TEMP TABLE _domains_to_ask AS
WITH settled AS (  -- posted or rejected in every destination taking matched views ($6)
    SELECT event_key FROM synced_ledger
    WHERE list_contains($6::VARCHAR[], destination) AND status IN ('posted', 'rejected')
    GROUP BY event_key HAVING count(*) = len($6::VARCHAR[])
), unmatched AS MATERIALIZED (
    SELECT v.email_domain,
           bool_or(s.event_key IS NULL
                   AND coalesce(filter_reason(v.percent_viewed, $4, $5::VARCHAR[], m.hashed_id, m.project_id,
                                              m.project_hashed_id, m.project_name) = 'unknown_project', true))
               AS may_post
    FROM converted_views AS v
    LEFT JOIN settled AS s ON s.event_key = v.event_key
    LEFT JOIN wistia_medias AS m ON m.hashed_id = v.media_id
    WHERE v.day BETWEEN $1 AND $2
      AND v.email_domain <> ''
      AND NOT EXISTS (
            SELECT 1 FROM _upsales_contacts AS c
            WHERE c.email_lower = v.email_lower AND c.active = 1 AND c.client_id IS NOT NULL
              AND c.exact_ok IS NOT false)
    GROUP BY v.email_domain
)
SELECT u.email_domain AS asked
FROM unmatched AS u
LEFT JOIN upsales_lookups AS k ON k.kind = 'domain' AND k.asked = u.email_domain
WHERE NOT is_personal_domain(u.email_domain)
  AND (k.asked IS NULL OR (u.may_post AND k.looked_up_at < $3))
ORDER BY 1;
