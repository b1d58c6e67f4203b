"""The pairs' spawner on one host: DockerSpawner, with its Docker calls run side by side.

DockerSpawner sends every call to the Docker engine (create, start, inspect, and the
poll of every running server) through one thread shared by all pairs. When a class of
30 logs in within half a minute, each pair's container is created only after every call
queued before it: in the class-day rehearsal a pair's container was created 20 s after
its login (median, docs/operations.md). The engine itself creates and starts containers
side by side: 30 containers of the student image took 13.3 s through one thread and
7.0 s through four on the 2-core machine (median of two runs each).

:class:`ConcurrentDockerCalls` gives the spawner a pool of ``docker_threads`` threads
(``MASTERCLASS_DOCKER_THREADS``, default 4). The Docker SDK's client is shared between
them, as Docker Compose v1 shares one client between its parallel threads; each call
is one HTTP request on the engine's socket, from a connection pool.

Examples
--------
>>> from traitlets.config import Config
>>> c = Config()
>>> c.DockerSpawner.docker_threads = 3
>>> PairSpawner(config=c).docker_threads
3
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from dockerspawner import DockerSpawner
from traitlets import Integer
from traitlets.config import LoggingConfigurable


class ConcurrentDockerCalls(LoggingConfigurable):
    """Mixin for DockerSpawner and its subclasses: a pool of threads for the engine's calls."""

    docker_threads = Integer(
        4,
        min=1,
        config=True,
        help="Threads that call the Docker engine, shared by every pair's spawner.",
    )

    # One pool for every spawner of the class, as upstream keeps its one thread.
    _executor = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        cls = type(self)
        if cls._executor is None:
            cls._executor = ThreadPoolExecutor(
                self.docker_threads, thread_name_prefix="docker-call"
            )
        return cls._executor


class PairSpawner(ConcurrentDockerCalls, DockerSpawner):
    """A pair's server as a container on this host's engine (DockerSpawner's settings)."""
