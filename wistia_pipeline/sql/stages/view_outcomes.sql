-- Recompute the outcome of every view of some days for the given destinations (a post step: its
-- own), as of one run: the first stage reason that stopped it, else its ledger state.
-- Parameters:
--   $first: the first day
--   $last: the last day
--   $destinations: the destinations to recompute (a list, sinks/registry.py)
--   $run_id: this run's id
DELETE FROM view_outcomes WHERE day BETWEEN $first AND $last AND list_contains($destinations::VARCHAR[], destination);

INSERT INTO view_outcomes
WITH destinations AS (SELECT unnest($destinations::VARCHAR[]) AS destination),
first_reason AS (
    SELECT r.day, r.event_key, d.destination,
           arg_min(r.reason, CASE r.stage WHEN 'converted_views' THEN 1 WHEN 'matched_views' THEN 2
                                          WHEN 'filtered_views' THEN 3 ELSE 4 END) AS reason,
           arg_min(r.stage, CASE r.stage WHEN 'converted_views' THEN 1 WHEN 'matched_views' THEN 2
                                         WHEN 'filtered_views' THEN 3 ELSE 4 END) AS stage
    FROM view_rejections AS r
    JOIN destinations AS d ON r.destination IN ('*', d.destination)
    WHERE r.day BETWEEN $first AND $last
    GROUP BY ALL
)
SELECT
    e.day, e.event_key, d.destination,
    CASE WHEN fr.reason IS NOT NULL THEN 'skipped'
         WHEN l.status = 'posted' AND l.run_id = $run_id THEN 'synced'
         WHEN l.status = 'posted' THEN 'already_synced'
         ELSE 'failed' END                                              AS outcome,
    CASE WHEN fr.reason IS NOT NULL THEN fr.reason
         WHEN l.status = 'posted' AND l.run_id = $run_id THEN NULL
         WHEN l.status = 'posted' THEN 'already_synced'
         WHEN l.status = 'rejected' THEN 'rejected_by_upsales'
         WHEN l.status = 'in_flight' THEN 'post_unconfirmed'
         WHEN f.event_key IS NULL THEN 'not_processed'
         ELSE 'not_posted' END                                          AS reason,
    coalesce(fr.stage, 'synced_ledger')                                 AS stage,
    l.upsales_id,
    viewer_email(e.conversion_email, e.email)                           AS email,
    e.media_name,
    e.percent_viewed,
    $run_id                                                             AS run_id,
    now() AT TIME ZONE 'UTC'                                            AS decided_at
FROM wistia_events AS e
CROSS JOIN destinations AS d
LEFT JOIN first_reason AS fr ON fr.day = e.day AND fr.event_key = e.event_key AND fr.destination = d.destination
LEFT JOIN filtered_views AS f ON f.day = e.day AND f.event_key = e.event_key AND f.destination = d.destination
LEFT JOIN synced_ledger AS l ON l.destination = d.destination AND l.event_key = e.event_key
WHERE e.day BETWEEN $first AND $last;

-- Views of days outside $first..$last that this run settled (queued by an earlier run, posted,
-- refused or left unconfirmed now): their outcome follows the ledger too.
UPDATE view_outcomes AS o
SET outcome    = CASE WHEN l.status = 'posted' THEN 'synced' ELSE 'failed' END,
    reason     = CASE l.status WHEN 'posted' THEN NULL WHEN 'rejected' THEN 'rejected_by_upsales'
                               WHEN 'in_flight' THEN 'post_unconfirmed' ELSE 'not_posted' END,
    stage      = 'synced_ledger',
    upsales_id = l.upsales_id,
    run_id     = $run_id,
    decided_at = now() AT TIME ZONE 'UTC'
FROM synced_ledger AS l
WHERE l.destination = o.destination AND l.event_key = o.event_key
  AND l.run_id = $run_id
  AND o.day NOT BETWEEN $first AND $last
  AND o.outcome <> 'skipped'
  AND list_contains($destinations::VARCHAR[], o.destination);
