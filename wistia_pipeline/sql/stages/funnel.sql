-- The funnel of some days for one destination, stage by stage.
-- Parameters:
--   $first: the first day
--   $last: the last day
--   $destination: the destination (sinks/registry.py)
--   $takes_matched: whether it takes matched views (else `matched` is NULL)
SELECT
    (SELECT count(DISTINCT event_key) FROM wistia_events WHERE day BETWEEN $first AND $last)     AS events,
    (SELECT count(*) FROM converted_views WHERE day BETWEEN $first AND $last)                     AS converted,
    CASE WHEN $takes_matched
         THEN (SELECT count(*) FROM matched_views WHERE day BETWEEN $first AND $last) END        AS matched,
    (SELECT count(*) FROM filtered_views WHERE day BETWEEN $first AND $last AND destination = $destination)
      + (SELECT count(*) FROM view_rejections
         WHERE day BETWEEN $first AND $last AND destination = $destination
           AND reason IN ('project_not_enabled', 'unknown_project'))                             AS at_min_percent,
    (SELECT count(*) FROM filtered_views WHERE day BETWEEN $first AND $last AND destination = $destination)
                                                                                                  AS in_projects;
