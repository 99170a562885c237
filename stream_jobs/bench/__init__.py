"""``llmpulse bench``: figures measured in one run on the real broker and ClickHouse."""
