-- llmpulse schema v5: what cached input tokens saved, per call and per minute:
-- cache-read tokens priced at the input price, less at the cache-read price.

ALTER TABLE {db}.llm_calls ADD COLUMN IF NOT EXISTS cache_savings_pico Int64 DEFAULT 0;

ALTER TABLE {db}.cost_1m ADD COLUMN IF NOT EXISTS cache_savings_usd Decimal(38, 12) DEFAULT 0;
