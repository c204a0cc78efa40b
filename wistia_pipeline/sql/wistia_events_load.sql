-- Stage one Wistia events page ($1 = day asked for, $2 = page number, $3 = the page as JSON).
INSERT INTO _wistia_event_pages
SELECT $1, $2, CAST(key AS INTEGER), value
FROM json_each($3);
