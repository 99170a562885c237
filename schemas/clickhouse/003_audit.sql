-- llmpulse schema v3: the audit trail of price catalogues. Every worker start
-- records the catalogue it prices with (version, content hash, full text); each
-- call's price_version names the catalogue version and the entry it used.

CREATE TABLE IF NOT EXISTS {db}.price_catalogues
(
    version     String,
    sha256      String,
    models      UInt32,
    content     String,
    first_used  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (version, sha256);
