"""Flask at the edge: each blueprint parses a request and calls plain functions in handlers/."""
