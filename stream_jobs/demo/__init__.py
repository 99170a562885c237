"""``llmpulse demo`` and ``llmpulse traffic``: the whole pipeline on realistic traffic.

The commands are the interface (``stream_jobs/cli.py``); ``run`` and ``traffic``
are their modules, so the package exports nothing.
"""

__all__: list[str] = []
