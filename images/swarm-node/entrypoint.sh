#!/bin/sh
# Start the node's Docker Engine through Debian's init script and follow its log.
#
# The engine reads /etc/docker/daemon.json and /etc/default/docker (both written by the
# swarm role). On SIGTERM (`docker stop`) the engine is stopped cleanly.
set -eu

# What Docker-in-Docker needs: a shared mount tree (volumes with mount propagation), and
# /sys and this container's own cgroups writable. A privileged container has the latter;
# where the outer engine cannot grant every capability (--privileged fails with "unable
# to apply caps"), the lab starts the node with all capabilities it can have instead, and
# the node makes them writable itself.
mount --make-rshared /
if grep -q ' /sys sysfs ro,' /proc/mounts; then
    mount -o remount,rw /sys
fi
grep ' /sys/fs/cgroup/' /proc/mounts | while read -r _ where _ options _; do
    case "$options" in ro,*) mount -o remount,bind,rw "$where" ;; esac
done

stop() {
    service docker stop || true
    exit 0
}
trap stop TERM INT

touch /var/log/docker.log
service docker start
tail -n +1 -F /var/log/docker.log &
wait $!
