-- llmpulse schema v9: one logical call, one counted row. Instrumentation libraries
-- stack spans for one call (the provider SDK's own span and a library's, a framework's
-- over both); each is kept, and the analytics refresh links all but one of them to
-- the call's primary span (duplicate_of = 'trace_id/span_id'). Every count, sum and
-- rollup reads only the rows whose duplicate_of is empty.
ALTER TABLE {db}.llm_calls ADD COLUMN IF NOT EXISTS response_id String DEFAULT '';
-- How input_tokens was derived: 'reported', or 'plus_cache' (the provider's own number,
-- cache excluded, plus the cached tokens: see conventions.INPUT_WITHOUT_CACHE).
ALTER TABLE {db}.llm_calls ADD COLUMN IF NOT EXISTS input_basis LowCardinality(String) DEFAULT 'reported';
ALTER TABLE {db}.llm_calls ADD COLUMN IF NOT EXISTS duplicate_of String DEFAULT '';
