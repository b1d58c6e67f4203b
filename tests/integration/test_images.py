"""The student and hub images, as built by `make images`, run what a class day needs."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from solution_path import solution_path

pytestmark = pytest.mark.docker

EVENT_COUNT = 622
ROOT = Path(__file__).parents[2]


def solution_code(epochs: int) -> str:
    """The shared solution path, and a check that every test event gets a prediction."""
    return solution_path(epochs) + "assert len(pred) == len(test), (len(pred), len(test))\n"


def python(code: str) -> tuple[str, ...]:
    return ("python3", "-c", code)


def accuracy(output: str) -> float:
    found = re.search(r"^ACCURACY (\S+)$", output, re.MULTILINE)
    assert found, f"no accuracy printed:\n{output[-2000:]}"
    return float(found.group(1))


def test_all_images_exist(student_image, hub_image, proxy_image, docker_cli):
    for image in (student_image, hub_image, proxy_image):
        config = json.loads(docker_cli("image", "inspect", image).stdout)[0]["Config"]
        assert config["Cmd"], f"{image} has no CMD"


def test_student_image_contract(student_image, docker_cli, run_container):
    config = json.loads(docker_cli("image", "inspect", student_image).stdout)[0]["Config"]
    assert config["User"] not in ("", "0", "root"), f"student image runs as {config['User']!r}"
    # The start hook picks the language, then becomes jupyterhub-singleuser (which fetches).
    assert config["Cmd"] == ["start-singleuser"]
    hook = run_container(student_image, "cat", "/usr/local/bin/start-singleuser").stdout
    assert hook.rstrip().splitlines()[-1] == 'exec jupyterhub-singleuser "$@"'
    assert config.get("Healthcheck", {}).get("Test"), "student image has no HEALTHCHECK"
    assert not any(e.startswith(("PIP_CERT=", "SSL_CERT_FILE=")) for e in config["Env"])


def test_student_runs_as_unprivileged_user(student_image, run_container):
    result = run_container(
        student_image,
        *python("import os, pathlib; print(os.getuid(), os.getgid(), pathlib.Path.home())"),
        memory="1g",
    )
    assert result.exit_code == 0, result.explain()
    uid, gid, home = result.stdout.split()
    assert uid != "0" and gid != "0", result.explain()
    assert home == "/home/jovyan"


def test_load_events_finds_the_baked_store(student_image, run_container):
    code = textwrap.dedent(
        """
        import os, time
        assert "MASTERCLASS_DATA_DIR" not in os.environ
        t = time.perf_counter()
        from masterclass import *
        ev = load_events()
        print("COUNT", len(ev), "SECONDS", round(time.perf_counter() - t, 2))
        print("CATEGORIES", sorted({e.category for e in ev}))
        print("SHAPE", ev[0].image.shape)
        """
    )
    result = run_container(student_image, *python(code), memory="8g")
    assert result.exit_code == 0, result.explain()
    assert f"COUNT {EVENT_COUNT} " in result.stdout, result.explain()
    assert "CATEGORIES ['e', 'm', 'q', 't']" in result.stdout
    assert "SHAPE (200, 200, 3)" in result.stdout


def test_event_store_is_not_writable_by_students(student_image, run_container):
    result = run_container(
        student_image,
        "sh",
        "-c",
        "ls /opt/masterclass/events && ! touch /opt/masterclass/events/x 2>/dev/null",
        memory="1g",
    )
    assert result.exit_code == 0, result.explain()
    assert "events.npy" in result.stdout and "events.json" in result.stdout


def test_tensorflow_threads_follow_the_cpu_quota(student_image, run_container):
    code = textwrap.dedent(
        """
        import masterclass.toolkit.model
        import tensorflow as tf
        from masterclass.toolkit.runtime import cpu_quota
        print("QUOTA", cpu_quota())
        print("INTRA", tf.config.threading.get_intra_op_parallelism_threads())
        """
    )
    # The test machines have 2 or more cores, so a quota of 1 is told apart from the host.
    result = run_container(student_image, *python(code), memory="8g", cpus=1)
    assert result.exit_code == 0, result.explain()
    assert "QUOTA 1\n" in result.stdout, result.explain()
    assert "INTRA 1\n" in result.stdout, result.explain()


def test_the_worksheets_name_the_kernels_language_as_it_reports_it(student_image, run_container):
    # JupyterLab writes the kernel's language_info into a notebook it opens: if the
    # worksheet's differs, the pair sees the unsaved-changes mark before touching anything.
    code = "import json; from ipykernel.ipkernel import IPythonKernel as K; "
    code += "print('INFO', json.dumps(dict(K.language_info), sort_keys=True))"
    result = run_container(student_image, *python(code), memory="1g")
    assert result.exit_code == 0, result.explain()
    found = re.search(r"^INFO (.+)$", result.stdout, re.MULTILINE)
    assert found, result.explain()
    worksheets = sorted((ROOT / "worksheets").glob("*/source/*/*.ipynb"))
    assert worksheets
    for path in worksheets:
        assert json.loads(path.read_text())["metadata"]["language_info"] == json.loads(
            found.group(1)
        ), f"{path}: update LANGUAGE_INFO in worksheets/build.py and run `make worksheets`"


def test_student_gets_only_student_side_nbgrader(student_image, run_container):
    result = run_container(
        student_image,
        "sh",
        "-c",
        "jupyter server extension list 2>&1; jupyter labextension list 2>&1",
        memory="1g",
    )
    assert result.exit_code == 0, result.explain()
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)

    def state(pattern: str) -> str:
        found = re.search(pattern + r"\S*\s+(enabled|disabled)", out)
        assert found, f"{pattern} not listed:\n{out}"
        return found.group(1)

    assert state(r"nbgrader\.server_extensions\.assignment_list") == "enabled"
    assert state(r"nbgrader\.server_extensions\.validate_assignment") == "enabled"
    assert state(r"nbgrader\.server_extensions\.formgrader") == "disabled"
    assert state(r"nbgrader\.server_extensions\.course_list") == "disabled"
    assert state(r"jupyter_resource_usage") == "enabled"
    # Lab plugins: the disabled ones are listed under "Disabled extensions".
    disabled = out.split("Disabled extensions:")[-1] if "Disabled extensions:" in out else ""
    for plugin in ("formgrader", "create-assignment", "course-list"):
        assert f"@jupyter/nbgrader:{plugin}" in disabled, out
    for plugin in ("assignment-list", "validate-assignment"):
        assert f"@jupyter/nbgrader:{plugin}" not in disabled, out


@pytest.mark.slow
def test_solution_path_one_epoch(student_image, run_container):
    code = solution_code(epochs=1)
    result = run_container(student_image, *python(code), memory="8g", timeout=900)
    assert result.exit_code == 0, result.explain()
    assert 0.0 <= accuracy(result.stdout) <= 1.0


@pytest.mark.slow
def test_solution_path_three_epochs_in_one_and_a_half_gigabytes(student_image, run_container):
    """The lean-toolkit promise, inside the real image: 1.5 GB, no swap, 3 epochs."""
    code = solution_code(epochs=3)
    result = run_container(student_image, *python(code), memory="1.5g", timeout=1200)
    assert not result.oom_killed, "killed by the 1.5 GB memory limit\n" + result.explain()
    assert result.exit_code == 0, result.explain()
    assert 0.0 <= accuracy(result.stdout) <= 1.0


def test_hub_has_jupyterhub_and_no_nodejs(hub_image, run_container):
    hub = run_container(hub_image, "jupyterhub", "--version", memory="1g")
    assert hub.exit_code == 0, hub.explain()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", hub.stdout.strip()), hub.explain()
    # The proxy has an image of its own (images/proxy): no Node.js, no ICU in the hub's.
    node = run_container(
        hub_image,
        "sh",
        "-c",
        "command -v node configurable-http-proxy; ls /usr/lib/*/libnode*",
        memory="1g",
    )
    assert node.exit_code != 0 and node.stdout.strip() == "", node.explain()


def test_the_proxy_image_runs_configurable_http_proxy_as_nobody(proxy_image, run_container):
    proxy = run_container(proxy_image, "configurable-http-proxy", "--version", memory="1g")
    assert re.search(r"\d+\.\d+\.\d+", proxy.stdout + proxy.stderr), proxy.explain()
    # The entrypoint waits for the hub's token, then starts the proxy as nobody; here the
    # token is there from the start, and the proxy answers its API on the loopback only.
    probe = (
        "mkdir -p /srv/jupyterhub/state && echo secret > /srv/jupyterhub/state/proxy_token; "
        "masterclass-proxy & sleep 3; "
        'for d in /proc/[0-9]*; do [ "$(cat $d/comm)" = node ] && echo user $(stat -c %U $d); '
        "done; "
        "node -e \"require('http').get({host: '127.0.0.1', port: 8001, path: '/api/routes', "
        "headers: {Authorization: 'token secret'}}, r => console.log('api', r.statusCode))\"; "
        'sleep 1; awk \'$4 == "0A" {print "listen", $2}\' /proc/net/tcp /proc/net/tcp6'
    )
    run = run_container(proxy_image, "sh", "-c", probe, memory="1g")
    lines = run.stdout.splitlines()
    assert "api 200" in lines and "user nobody" in lines and "user root" not in lines, run.explain()
    # /proc/net/tcp{,6}: hex address and port; 8000 is 1F40, 8001 is 1F41.
    listening = {tuple(line.split()[1].split(":")) for line in lines if line.startswith("listen ")}
    assert {port for _, port in listening} == {"1F40", "1F41"}, run.explain()
    assert all(set(address) == {"0"} for address, port in listening if port == "1F40")
    assert {address for address, port in listening if port == "1F41"} == {"0100007F"}


def test_hub_has_no_tensorflow(hub_image, run_container):
    result = run_container(
        hub_image,
        *python("import importlib.util as u; print(u.find_spec('tensorflow'))"),
        memory="1g",
    )
    assert result.exit_code == 0, result.explain()
    assert result.stdout.strip() == "None"


def _site_only_certificates(image: str, run_container) -> list[str]:
    """First lines of the PEM bodies in the host's CA bundle that no public bundle has.

    Public means Debian's ca-certificates, a certifi bundle in the image's venv (a newer
    Mozilla list) or the Mozilla list built into Node.js (if the image has Node.js; the
    proxy's image, which takes no site CA at all).
    What is left is the site's own CAs (for example a TLS-inspecting gateway's); the list
    is empty on a machine without one.
    """
    shipped = run_container(
        image,
        "sh",
        "-c",
        "cat /usr/share/ca-certificates/mozilla/*.crt $(find /opt/venv -name cacert.pem); "
        "! command -v node >/dev/null || node -p \"require('tls').rootCertificates.join('')\"",
        memory="1g",
    )
    assert shipped.exit_code == 0, shipped.explain()
    try:
        with open("/etc/ssl/certs/ca-certificates.crt") as bundle:
            host = bundle.read()
    except OSError:
        return []
    pems = re.findall(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END", host, re.DOTALL)
    firsts = [pem.split("\n")[0] for pem in pems]
    return [first for first in firsts if first not in shipped.stdout]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["student", "hub"])
def test_no_site_ca_in_any_image_layer(which, request, run_container):
    """No layer of the image holds a site CA (the build passes one to its build stages)."""
    image = request.getfixturevalue(f"{which}_image")
    needles = [first.encode() for first in _site_only_certificates(image, run_container)]
    found: set[bytes] = set()
    tail = b""
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as save:
        while chunk := save.stdout.read(8 << 20):
            window = tail + chunk
            found.update(n for n in needles if n in window)
            tail = window[-128:]
    assert save.returncode == 0
    assert not found, f"{len(found)} site CA certificate(s) baked into {image}"
