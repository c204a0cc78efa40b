-- The emails of days $1..$2 to look up in Upsales this run ($3 = the oldest look-up still fresh,
-- i.e. now - CONTACT_REFRESH_MINUTES): an email asked never before, or one with a view whose
-- outcome can still change (not in the ledger as posted or rejected) and whose answer is older
-- than $3. An email whose every view is settled keeps its answer, however old: nothing is posted
-- from it again.
CREATE OR REPLACE TEMP TABLE _emails_to_ask AS
WITH emails AS (
    SELECT v.email_lower,
           bool_and(coalesce(l.status IN ('posted', 'rejected'), false)) AS settled
    FROM converted_views AS v
    LEFT JOIN synced_ledger AS l ON l.destination = 'activities' AND l.event_key = v.event_key
    WHERE v.day BETWEEN $1 AND $2 AND v.email_lower <> ''
    GROUP BY v.email_lower
)
SELECT e.email_lower AS asked
FROM emails AS e
LEFT JOIN upsales_lookups AS k ON k.kind = 'email' AND k.asked = e.email_lower
WHERE k.asked IS NULL OR (NOT e.settled AND k.looked_up_at < $3)
ORDER BY 1;
