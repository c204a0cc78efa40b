-- Filter views, in order: percent_viewed * 100 >= minimum (inclusive, tolerance 1e-9) else
-- below_min_percent; then the media's project must be in the filter (hashed id, numeric id or
-- exact name) else project_not_enabled, or unknown_project when the media's project cannot be
-- found. A destination taking matched views (the activity log) filters matched views; one taking
-- converted views (forms) filters converted views (Upsales links form submissions itself). The
-- rule itself is the macro filter_reason (schema.sql).
-- Parameters:
--   $first: the first day
--   $last: the last day
--   $min_percent: the minimum percent watched, 0..100 (MIN_PERCENT_WATCHED)
--   $projects: the project filter's entries (WISTIA_PROJECTS; empty: all projects)
--   $matched_destinations: the enabled destinations that take matched views (sinks/registry.py)
--   $converted_destinations: the enabled destinations that take converted views
CREATE OR REPLACE TEMP TABLE _filter_input AS
SELECT d.destination, v.day, v.event_key, v.received_at, v.email,
       c.first_name, c.last_name, v.percent_viewed, v.media_id, v.media_name, v.heatmap_url,
       v.match_type, v.contact_id, v.contact_name, v.client_id
FROM matched_views AS v
CROSS JOIN (SELECT unnest($matched_destinations::VARCHAR[]) AS destination) AS d
LEFT JOIN converted_views AS c ON c.day = v.day AND c.event_key = v.event_key
WHERE v.day BETWEEN $first AND $last
UNION ALL
SELECT d.destination, c.day, c.event_key, c.received_at, c.email,
       c.first_name, c.last_name, c.percent_viewed, c.media_id, c.media_name, c.heatmap_url,
       NULL, NULL, NULL, NULL
FROM converted_views AS c
CROSS JOIN (SELECT unnest($converted_destinations::VARCHAR[]) AS destination) AS d
WHERE c.day BETWEEN $first AND $last;

CREATE OR REPLACE TEMP TABLE _filter_results AS
SELECT
    i.*,
    m.project_id, m.project_hashed_id, m.project_name,
    filter_reason(i.percent_viewed, $min_percent, $projects::VARCHAR[], m.hashed_id, m.project_id,
                  m.project_hashed_id, m.project_name) AS reason
FROM _filter_input AS i
LEFT JOIN wistia_medias AS m ON m.hashed_id = i.media_id;

INSERT INTO filtered_views
SELECT day, destination, event_key, received_at, email, first_name, last_name, percent_viewed,
       media_id, media_name, project_id, project_hashed_id, project_name, heatmap_url,
       match_type, contact_id, contact_name, client_id
FROM _filter_results
WHERE reason IS NULL;

INSERT INTO view_rejections
SELECT day, event_key, destination, 'filtered_views', reason,
       CASE reason WHEN 'below_min_percent' THEN CAST(round(coalesce(percent_viewed, 0) * 100, 2) AS VARCHAR) || '%'
                   ELSE coalesce(project_name, media_id) END
FROM _filter_results
WHERE reason IS NOT NULL;

-- Free the working tables now rather than when the connection closes.
DROP TABLE _filter_input;
DROP TABLE _filter_results;
