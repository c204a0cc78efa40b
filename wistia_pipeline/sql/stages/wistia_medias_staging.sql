-- The pages of Wistia's media list as they arrive (wistia_medias_load.sql), before they replace
-- the table wistia_medias in one transaction.
CREATE OR REPLACE TEMP TABLE _wistia_media_pages (
    hashed_id VARCHAR, name VARCHAR, project_id BIGINT, project_hashed_id VARCHAR, project_name VARCHAR);
