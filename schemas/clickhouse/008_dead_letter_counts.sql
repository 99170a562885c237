-- llmpulse schema v8: a dead letter can stand for many spans. Per message and reason
-- the first samples are kept one by one; one more record counts the rest, so a
-- message of 87,000 id-less spans makes a dozen dead letters, not 87,000.
ALTER TABLE {db}.dead_letters ADD COLUMN IF NOT EXISTS span_count UInt32 DEFAULT 1;
