"""The Docker engine as the organiser CLI uses it: the client, and the stack's containers."""

from __future__ import annotations

from masterclass.names import stack_name
from masterclass.organiser.errors import StackError, short


def docker_client(timeout: float = 30):
    """A Docker SDK client that answers, else :class:`StackError` (kind ``docker``)."""
    import docker  # the Docker SDK ([organiser] extra)

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:
        raise StackError(
            f"No Docker engine answers ({short(e)}). Start it (on Debian: "
            "`systemctl start docker`, or `make docker` as root), then try again.",
            "docker",
        ) from None
    return client


def running_container(prefix: str, client, service: str):
    """The running container ``<prefix>-<service>`` of the stack (``hub``, ...), or None."""
    try:
        container = client.containers.get(stack_name(prefix, service))
    except Exception:
        return None
    return container if getattr(container, "status", None) == "running" else None


def exec_text(container, command: list[str]) -> tuple[int, str]:
    """Run *command* in *container*; its exit code and output as text."""
    code, out = container.exec_run(command)
    return code, (out or b"").decode("utf-8", "replace")
