-- Stage a batch of Wistia events pages in one statement. An event's position is its index on its
-- page.
-- Parameters (three lists, one entry per page):
--   $days: the day each page was asked for
--   $page_numbers: its page number
--   $pages: the page as JSON text
INSERT INTO _wistia_event_pages
SELECT day, page_no, CAST(position AS INTEGER), raw
FROM (
    SELECT day, page_no, unnest(events) AS raw, unnest(range(len(events))) AS position
    FROM (
        SELECT unnest($days::DATE[]) AS day, unnest($page_numbers::INTEGER[]) AS page_no,
               CAST(unnest($pages::VARCHAR[]) AS JSON[]) AS events
    )
);
