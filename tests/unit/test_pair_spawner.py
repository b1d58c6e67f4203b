"""The pairs' spawner calls the Docker engine from several threads (masterclass.hub.spawner)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from traitlets.config import Config

from masterclass.hub.spawner import PairSpawner
from masterclass.hub.swarm import SwarmSpawner


class BarrierClient:
    """A Docker client whose call waits until *parties* calls are in flight at once."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=10)

    def inspect_container(self, name):
        self.barrier.wait()  # BrokenBarrierError when the calls run one after the other
        return {"Name": name}


@pytest.fixture
def fresh(monkeypatch):
    """Each test gets its own pool and client (both are shared per class)."""

    def make(cls, threads: int, client):
        monkeypatch.setattr(cls, "_executor", None)
        monkeypatch.setattr(cls, "_client", client)
        c = Config()
        c.DockerSpawner.docker_threads = threads
        return cls(config=c)

    return make


@pytest.mark.parametrize("cls", [PairSpawner, SwarmSpawner])
def test_calls_to_the_engine_run_side_by_side(fresh, cls):
    spawner = fresh(cls, 4, BarrierClient(4))

    async def four():
        return await asyncio.gather(
            *(spawner.docker("inspect_container", f"c{i}") for i in range(4))
        )

    assert [r["Name"] for r in asyncio.run(four())] == ["c0", "c1", "c2", "c3"]
    spawner.executor.shutdown()


def test_one_thread_is_upstreams_behaviour(fresh):
    """With one thread (DockerSpawner's own), the same four calls cannot meet: the test can fail."""
    spawner = fresh(PairSpawner, 1, BarrierClient(2))
    spawner.client.barrier = threading.Barrier(2, timeout=0.5)

    async def two():
        return await asyncio.gather(
            *(spawner.docker("inspect_container", f"c{i}") for i in range(2))
        )

    with pytest.raises(threading.BrokenBarrierError):
        asyncio.run(two())
    spawner.executor.shutdown()
