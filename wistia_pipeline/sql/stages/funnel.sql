-- The funnel of days $1..$2 for one destination ($3; $4: it takes matched views), stage by stage.
SELECT
    (SELECT count(DISTINCT event_key) FROM wistia_events WHERE day BETWEEN $1 AND $2)      AS events,
    (SELECT count(*) FROM converted_views WHERE day BETWEEN $1 AND $2)                      AS converted,
    CASE WHEN $4
         THEN (SELECT count(*) FROM matched_views WHERE day BETWEEN $1 AND $2) END         AS matched,
    (SELECT count(*) FROM filtered_views WHERE day BETWEEN $1 AND $2 AND destination = $3)
      + (SELECT count(*) FROM view_rejections WHERE day BETWEEN $1 AND $2 AND destination = $3
                                             AND reason IN ('project_not_enabled', 'unknown_project')) AS at_min_percent,
    (SELECT count(*) FROM filtered_views WHERE day BETWEEN $1 AND $2 AND destination = $3)  AS in_projects;
