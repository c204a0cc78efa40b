"""Operating the pipeline from the command line: `explain` (what happened to a view) and
`doctor` (settings, DuckDB file and both tokens, one green or red line each)."""
