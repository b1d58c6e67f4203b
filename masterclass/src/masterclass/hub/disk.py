"""A bounded home per pair: a file system of its own, loop-mounted on the host (issue 15).

Without a bound, one pair can fill the disk that every home, the hub's database and
Docker share. Here each pair's home is a file ``<homes>/<user>.img`` of
``MASTERCLASS_HOME_QUOTA`` (2G), formatted ext4 and loop-mounted at ``<homes>/<user>``;
the pair's named volume (``<prefix>-home-<user>``, as before) binds that folder. A full
home is that pair's alone: its writes fail with "no space left on device", the
neighbours' homes and the host's disk are untouched. The image is sparse, so it takes
only what the pair wrote. (This kernel has no ext4 or XFS quota; a file system per pair
needs only the loop driver, ext4 and the host's mkfs.ext4 and mount.)

The hub prepares a home before each start of the pair's server
(:class:`HomeBound`, DockerSpawner's ``pre_spawn_hook``): it runs a short helper
container that enters the host's mount namespace (that of the engine that started it,
found through its containerd shim) and makes, formats and mounts the image,
idempotently, so a reboot (which loses the mounts) is repaired at the next start. A
home volume made before this bound existed (a plain Docker volume) is left as it is and
reported as unbounded. Only the Docker socket is needed, which the hub has anyway; the
helper gets the few capabilities mount needs (not ``--privileged``).

``masterclass class purge`` removes the images with :func:`remove_home`; ``class status``
and ``class check`` read a home's use with :func:`home_usage`. Docker SDK only (no
JupyterHub): the organiser CLI imports it too.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import PurePosixPath

from masterclass.names import stack_name

#: Where the homes live on the host unless MASTERCLASS_HOMES_DIR says otherwise.
HOMES_DIR = "/var/lib/masterclass/{prefix}/homes"
#: A pair's home unless MASTERCLASS_HOME_QUOTA says otherwise (truncate's units: 2G = 2 GiB).
HOME_QUOTA = "2G"
#: A size as truncate(1) and Docker read it.
SIZE = re.compile(r"^[1-9][0-9]*[KMGT]?$")

#: Run on the host (in the engine's mount namespace) by the helper: ensure | remove.
HOST_SCRIPT = r"""
set -eu
action=$1 img=$2 dir=$3 size=${4:-0}
case "$action" in
ensure)
    mkdir -p "$(dirname "$img")"
    chmod 755 "$(dirname "$img")"
    if [ ! -e "$img" ]; then
        truncate -s "$size" "$img.new"
        mkfs.ext4 -q -m 0 -E root_owner=1000:1000,lazy_itable_init=1 "$img.new"
        mv "$img.new" "$img"
    fi
    mkdir -p "$dir"
    if ! mountpoint -q "$dir"; then
        mount -o loop,nosuid,nodev "$img" "$dir"
        rmdir "$dir/lost+found" 2>/dev/null || true
    fi
    echo mounted ;;
remove)
    if mountpoint -q "$dir"; then umount "$dir"; fi
    rm -f "$img" "$img.new"
    rmdir "$dir" 2>/dev/null || true
    echo removed ;;
remove-all)
    # $dir is a whole homes folder: unmount every home below it, then delete it.
    case "$dir" in /*/homes) ;; *) echo "not a homes folder: $dir" >&2; exit 2 ;; esac
    awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
        while read -r m; do umount "$m"; done
    rm -rf "$dir"
    rmdir "$(dirname "$dir")" 2>/dev/null || true
    echo removed ;;
*)
    echo "unknown action $action" >&2; exit 2 ;;
esac
"""

#: Run HOST_SCRIPT in the mount namespace of the engine that started this helper: that
#: of the containerd shim above this process (an engine's shims run in its namespace; a
#: search for "dockerd" could find a Docker-in-Docker node's engine instead).
ENTER = r"""
p=$$
while [ "$p" -gt 1 ]; do
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in containerd-shim*) break ;; esac
    p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status")
done
[ "$p" -gt 1 ] || { echo "no containerd shim above this process" >&2; exit 1; }
script=$1; shift
exec nsenter -t "$p" -m -- sh -c "$script" sh "$@"
"""

#: What the helper may do: see the host's processes, enter a mount namespace, mount,
#: and use loop devices (block major 7, /dev/loop-control). Nothing else, no network.
HELPER = {
    "pid_mode": "host",
    "network_mode": "none",
    "cap_add": ["SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT"],
    "security_opt": ["apparmor=unconfined"],
    "device_cgroup_rules": ["b 7:* rmw", "c 10:237 rmw"],
}


class DiskError(RuntimeError):
    """A home could not be prepared or removed (the message says why)."""


def paths(homes_dir: str, user: str) -> tuple[str, str]:
    """The image and the mount folder of *user*'s home on the host."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", user):
        raise DiskError(f"not a safe name for a home: {user!r}")
    base = PurePosixPath(homes_dir)
    if not base.is_absolute():
        raise DiskError(f"MASTERCLASS_HOMES_DIR must be an absolute path: {homes_dir}")
    return str(base / f"{user}.img"), str(base / user)


def own_image(client, prefix: str) -> str:
    """The image of the hub's container, else MASTERCLASS_HUB_IMAGE.

    The hub's container is found by its name (``<prefix>-hub``): it runs in the proxy's
    network namespace, so its host name is the proxy container's.
    """
    try:
        return client.containers.get(stack_name(prefix, "hub")).image.id
    except Exception:
        return os.environ.get("MASTERCLASS_HUB_IMAGE", "masterclass/hub:latest")


def on_host(client, image: str, name: str, *args: str) -> str:
    """Run HOST_SCRIPT with *args* on the host through a helper container; its output."""
    command = ["sh", "-c", ENTER, "enter", HOST_SCRIPT, *args]
    try:
        out = client.containers.run(
            image, command, entrypoint=[], name=name, remove=True, stderr=True, **HELPER
        )
    except Exception as e:  # docker.errors.ContainerError carries the output
        detail = getattr(e, "stderr", None) or str(e)
        raise DiskError(f"the home helper failed ({' '.join(args[:1])}): {detail!r}") from e
    return out.decode("utf-8", "replace").strip()


def ensure_home(client, *, image, prefix, volume, homes_dir, user, size) -> str:
    """Make *user*'s bounded home ready: ``"bounded"``, or ``"unbounded"`` for an old one."""
    import docker

    img, folder = paths(homes_dir, user)
    try:
        existing = client.volumes.get(volume)
    except docker.errors.NotFound:
        existing = None
    if existing is not None and (existing.attrs.get("Options") or {}).get("device") != folder:
        return "unbounded"
    on_host(client, image, f"{prefix}-home-setup-{user}", "ensure", img, folder, size)
    if existing is None:
        client.volumes.create(
            volume,
            driver="local",
            driver_opts={"type": "none", "o": "bind", "device": folder},
            labels={"masterclass.home-quota": size},
        )
    return "bounded"


def remove_home(client, *, image, prefix, volume, user) -> bool:
    """Delete *user*'s home for good: the volume, the mount and the image. False: none."""
    import docker

    try:
        existing = client.volumes.get(volume)
    except docker.errors.NotFound:
        return False
    folder = (existing.attrs.get("Options") or {}).get("device")
    existing.remove(force=True)
    if folder:
        img = f"{folder}.img"
        on_host(client, image, f"{prefix}-home-remove-{user}", "remove", img, folder)
    return True


def remove_all_homes(client, *, image, prefix, homes_dir) -> None:
    """Unmount and delete every home below *homes_dir* (a test stack's teardown)."""
    on_host(client, image, f"{prefix}-homes-remove", "remove-all", "-", homes_dir.rstrip("/"))


def bound_folder(volume_attrs: dict) -> str | None:
    """The host folder a bounded home's volume binds (its file system's mount point), if any.

    A home made before homes were bounded has none: its volume is a plain Docker volume.
    """
    return (volume_attrs.get("Options") or {}).get("device") or None


def home_usage(volume_attrs: dict) -> tuple[int, int] | None:
    """(bytes used, bytes in all) of a bounded, mounted home from its volume; else None.

    None also for a bounded home whose file system is not mounted now (after a reboot,
    until the pair's next start mounts it): tell the two apart with :func:`bound_folder`.
    """
    folder = bound_folder(volume_attrs)
    if not folder:
        return None
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    if not os.path.ismount(folder):
        return None
    total = stat.f_blocks * stat.f_frsize
    return total - stat.f_bfree * stat.f_frsize, total


def host_free(path: str) -> int:
    """Free bytes on the file system of *path* (or of its nearest existing parent)."""
    probe = PurePosixPath(path)
    while not os.path.exists(probe) and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass(frozen=True)
class HomeBound:
    """DockerSpawner's ``pre_spawn_hook``: the pair's bounded home, before its server starts."""

    prefix: str
    homes_dir: str
    size: str

    async def __call__(self, spawner) -> None:
        import docker

        from masterclass.names import docker_safe_name, home_volume

        user = docker_safe_name(spawner.user.name)

        def prepare() -> str:
            client = docker.from_env(timeout=120)
            return ensure_home(
                client,
                image=own_image(client, self.prefix),
                prefix=self.prefix,
                volume=home_volume(self.prefix, spawner.user.name),
                homes_dir=self.homes_dir,
                user=user,
                size=self.size,
            )

        state = await asyncio.to_thread(prepare)
        if state == "unbounded":
            spawner.log.warning("The home of %s has no size bound (made before it)", user)
        else:
            spawner.log.info("Home of %s: %s, bounded at %s", user, self.homes_dir, self.size)
