"""``llmpulse bench``: figures measured in one run on the real broker and ClickHouse.

The command is the interface (``stream_jobs/cli.py``); the modules here are its
stages, so the package exports nothing.
"""

__all__: list[str] = []
