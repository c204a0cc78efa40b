-- Stage a batch of Wistia events pages in one statement: $1 = the day each page was asked for,
-- $2 = its page number, $3 = the page as JSON text (three lists, one entry per page). An event's
-- position is its index on its page.
INSERT INTO _wistia_event_pages
SELECT day, page_no, CAST(position AS INTEGER), raw
FROM (
    SELECT day, page_no, unnest(events) AS raw, unnest(range(len(events))) AS position
    FROM (
        SELECT unnest($1::DATE[]) AS day, unnest($2::INTEGER[]) AS page_no,
               CAST(unnest($3::VARCHAR[]) AS JSON[]) AS events
    )
);
