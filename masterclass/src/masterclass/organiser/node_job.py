"""What a node job runs on one swarm node: ``python3 -c <this file> ACTION ARGS...``.

The organiser CLI sends this file's source to a one-shot Swarm job of the student image
(:mod:`masterclass.organiser.nodejobs`). It runs there with the node's Docker socket and
only the standard library, and talks to that node's engine:

- ``homes PATTERN``: the names of the volumes that match PATTERN;
- ``remove PREFIX NAME...``: delete these volumes (HTTP status per name). A finished
  task's container keeps its volumes in use until the node reaps it, so the ended
  containers of this stack's swarm tasks are removed first;
- ``images NAME...``: the id of each image, or null where the node lacks it;
- ``snapshot LIMIT ASSIGNMENT...``: the assignments' folders under ``/homes/<user>/`` as
  a tar.gz, files above LIMIT bytes and hidden files left out, written as base64 lines
  ``B64 <chunk>``.

The last line of the output is ``ANSWER <json>``.
"""

import base64
import http.client
import io
import json
import os
import re
import socket
import sys
import tarfile
from urllib.parse import quote


class Engine(http.client.HTTPConnection):
    """The node's engine through its socket."""

    def __init__(self):
        super().__init__("localhost", timeout=120)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")


def call(method, path):
    engine = Engine()
    engine.request(method, path)
    response = engine.getresponse()
    return response.status, response.read()


def homes(pattern):
    volumes = json.loads(call("GET", "/volumes")[1]).get("Volumes") or []
    return sorted(v["Name"] for v in volumes if re.compile(pattern).match(v["Name"]))


def remove(prefix, *names):
    answer = {}
    for name in names:
        status = call("DELETE", "/volumes/" + name)[0]
        if status == 409:
            query = json.dumps({"volume": [name], "status": ["exited", "created", "dead"]})
            found = json.loads(call("GET", "/containers/json?all=1&filters=" + quote(query))[1])
            for container in found:
                task = (container.get("Labels") or {}).get("com.docker.swarm.service.name", "")
                if task.startswith(prefix + "-"):
                    call("DELETE", "/containers/" + container["Id"])
            status = call("DELETE", "/volumes/" + name)[0]
        answer[name] = status
    return answer


def images(*names):
    answer = {}
    for name in names:
        status, body = call("GET", "/images/" + name + "/json")
        answer[name] = json.loads(body)["Id"] if status == 200 else None
    return answer


def snapshot(limit, *assignments):
    limit = int(limit)

    def keep(info):
        name = os.path.basename(info.name)
        if name.startswith(".") or (info.isfile() and info.size > limit):
            return None
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for user in sorted(os.listdir("/homes")):
            for assignment in assignments:
                folder = os.path.join("/homes", user, assignment)
                if os.path.isdir(folder):
                    tar.add(folder, arcname=user + "/" + assignment, filter=keep)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    for start in range(0, len(data), 4000):
        print("B64", data[start : start + 4000])
    return {"bytes": len(buffer.getvalue())}


ACTIONS = {"homes": homes, "remove": remove, "images": images, "snapshot": snapshot}


def main(argv):
    action, *args = argv
    print("ANSWER", json.dumps(ACTIONS[action](*args)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
