-- Keep the answers of this run's look-ups: the contacts staged in _upsales_contacts replace the
-- earlier answer of each asked email (its own contacts) or domain (every contact the domain
-- search returned; one domain per call), stamped now. _asked holds what was asked.
-- Parameters:
--   $kind: what was asked, 'email' or 'domain'
DELETE FROM upsales_lookup_contacts
WHERE kind = $kind AND asked IN (SELECT asked FROM _asked);

INSERT INTO upsales_lookup_contacts
SELECT DISTINCT $kind, a.asked, c.id, c.email_lower, c.email_domain, c.name, c.active, c.mod_date,
       c.client_id, c.client_name
FROM _asked AS a
JOIN _upsales_contacts AS c ON $kind = 'domain' OR c.email_lower = a.asked;

INSERT INTO upsales_lookups (kind, asked, looked_up_at, contacts)
SELECT $kind, a.asked, now() AT TIME ZONE 'UTC', count(c.id)
FROM _asked AS a
LEFT JOIN upsales_lookup_contacts AS c ON c.kind = $kind AND c.asked = a.asked
GROUP BY a.asked
ON CONFLICT (kind, asked) DO UPDATE SET looked_up_at = excluded.looked_up_at, contacts = excluded.contacts;
