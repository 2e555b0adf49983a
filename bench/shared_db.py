"""What `python -m bench.run --database postgresql://... --instances N` adds to the
benchmark: a scratch schema on the given server for each run (dropped afterwards), and
N gunicorn instances of one target behind one comma-separated URL list (the load
generator's threads take the instances in turn, as a round-robin load balancer would)."""
from __future__ import annotations

import uuid

import psycopg

from handlers.testing.gunicorn import Gunicorn, database_env


class ScratchSchema:
    """A new schema on `url`'s database, and a URL whose connections use it."""

    def __init__(self, url: str):
        self.base = url
        self.name = f"optout_bench_{uuid.uuid4().hex[:10]}"
        separator = "&" if "?" in url else "?"
        self.url = f"{url}{separator}options=-csearch_path%3D{self.name}"

    def __enter__(self) -> ScratchSchema:
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")
        return self

    def __exit__(self, *exc) -> None:
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {self.name} CASCADE")


class Fleet:
    """N instances of one gunicorn target, used by bench.run as it uses one."""

    def __init__(self, instances: list[Gunicorn]):
        self.instances = instances
        self.url = ",".join(instance.url for instance in instances)
        self.log_path = ", ".join(str(instance.log_path) for instance in instances)

    @classmethod
    def of(cls, count: int, app: str, env: dict, database: str | None, log_prefix: str) -> Fleet:
        return cls([Gunicorn(app, {**env, **(database_env(database) if database else {})},
                             log_path=f"{log_prefix}-{n}.log") for n in range(count)])

    @property
    def process(self):
        """The first instance that exited, or a running one (bench.run checks it did not exit)."""
        processes = [instance.process for instance in self.instances]
        return next((p for p in processes if p is None or p.poll() is not None), processes[0])

    def start(self) -> Fleet:
        for instance in self.instances:
            instance.start()
        return self

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()

    def rss_bytes(self) -> int:
        return sum(instance.rss_bytes() for instance in self.instances)
