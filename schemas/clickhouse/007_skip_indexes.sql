-- llmpulse schema v7: skip indexes so the analytics refresh reads only what changed.
-- Parts are written in arrival order, so each part (and granule) covers a narrow
-- range of ingested_at and, for live traffic, of start_time: a minmax index lets
-- "calls ingested since the watermark" and "calls of these minutes" skip the rest
-- of the table instead of scanning it.

ALTER TABLE {db}.llm_calls ADD INDEX IF NOT EXISTS ingested_minmax ingested_at TYPE minmax GRANULARITY 1;
ALTER TABLE {db}.llm_calls ADD INDEX IF NOT EXISTS start_minmax start_time TYPE minmax GRANULARITY 1;
ALTER TABLE {db}.llm_calls MATERIALIZE INDEX ingested_minmax;
ALTER TABLE {db}.llm_calls MATERIALIZE INDEX start_minmax;
