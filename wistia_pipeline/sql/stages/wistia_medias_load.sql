-- Stage one page of Wistia medias. The media's project object is {"id", "name", "hashed_id"} in
-- older responses and {"id", "name", "hashedId"} in newer ones.
-- Parameters:
--   $page: the page as JSON text
INSERT INTO _wistia_media_pages
SELECT
    value ->> 'hashed_id'                                                        AS hashed_id,
    value ->> 'name'                                                             AS name,
    TRY_CAST(value -> 'project' ->> 'id' AS BIGINT)                              AS project_id,
    coalesce(value -> 'project' ->> 'hashed_id', value -> 'project' ->> 'hashedId') AS project_hashed_id,
    value -> 'project' ->> 'name'                                                AS project_name
FROM json_each($page)
WHERE value ->> 'hashed_id' IS NOT NULL;
