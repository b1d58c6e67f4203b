"""JupyterHub configuration of Masterclass Hub: one container per student pair.

Configuration flows one way: the environment (docker-compose.yml, .env; every
variable is documented in docs/configuration.md) → the `update_*` functions below
→ JupyterHub. Each function only *sets* traits on `c`; tests load this file against
a bare traitlets Config with a fake environment (tests/unit/test_hub_config.py).

Site-specific additions that need no new option go into jupyterhub_config.d/*.py,
loaded last (the escape hatch).
"""

import os
import sys
from glob import glob
from pathlib import Path

from masterclass.hub.disk import HOME_QUOTA, HOMES_DIR, SIZE, HomeBound
from masterclass.hub.landing import landing_url
from masterclass.hub.state import read_or_create_secret
from masterclass.messages import hub_page_texts, login_page_texts
from masterclass.names import HOME_VOLUME, docker_safe_name
from masterclass.sizing import pair_reservation_bytes

# Home of a pair inside its container (the student image's user jovyan, uid 1000).
HOME = "/home/jovyan"
# The folder of this file (templates/ and jupyterhub_config.d/ live beside it).
HERE = Path(__file__).resolve().parent


def update_state(c, env):
    """Hub state: database, cookie secret and proxy token in the state volume."""
    state = Path(env.get("MASTERCLASS_STATE_DIR", "/srv/jupyterhub/state"))
    # The sqlite database of users, servers and tokens lives in the state volume.
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    # JupyterHub creates the cookie secret with mode 600 and refuses a looser one.
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    # A fixed proxy token (mode 600, made on first start) survives hub restarts; the
    # proxy's container reads it from this volume (images/proxy/entrypoint.sh).
    c.ConfigurableHTTPProxy.auth_token = read_or_create_secret(state / "proxy_token")


def update_network(c, env):
    """Where the hub listens and how the pairs' containers reach it."""
    # The proxy serves the pairs on port 8000 (compose publishes it). It runs in a container
    # of its own (images/proxy) whose network namespace the hub shares, so the hub drives
    # it on the loopback and does not start it as its child.
    c.JupyterHub.bind_url = "http://:8000"
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
    # The hub no longer watches a child proxy; its activity check (which also puts missing
    # routes back, e.g. after the proxy's container restarted the proxy) runs every 30 s.
    c.JupyterHub.last_activity_interval = 30
    # The hub API listens on all interfaces of the container: pairs' servers call it.
    c.JupyterHub.hub_ip = "0.0.0.0"
    # Pairs' containers reach the hub by its service name on the spawn network.
    c.JupyterHub.hub_connect_ip = env.get("MASTERCLASS_HUB_HOST", "hub")
    # Behind the optional HTTPS front, trust its X-Forwarded-For (login throttling per IP).
    c.JupyterHub.trusted_downstream_ips = [
        ip.strip() for ip in env.get("MASTERCLASS_TRUSTED_PROXIES", "").split(",") if ip.strip()
    ]


def update_auth(c, env):
    """Pairs, tutors and organisers log in with the passphrases of the class roster."""
    state = env.get("MASTERCLASS_STATE_DIR", "/srv/jupyterhub/state")
    # Our authenticator checks logins against the roster and throttles failures.
    c.JupyterHub.authenticator_class = "masterclass.hub.authenticator.RosterAuthenticator"
    # The roster written by `masterclass class create` (or the demo class of `make up`).
    c.RosterAuthenticator.roster_path = env.get("MASTERCLASS_ROSTER", f"{state}/roster.json")
    # Failed logins per username and address before that pair of them has to wait.
    c.RosterAuthenticator.user_failure_limit = int(env.get("MASTERCLASS_LOGIN_FAILURES", "5"))
    # Seconds a throttled username or address waits after its last failed login.
    c.RosterAuthenticator.lockout_seconds = float(env.get("MASTERCLASS_LOGIN_LOCKOUT", "60"))
    # Only these hops may name the client (X-Forwarded-For, X-Real-Ip): the HTTPS front by
    # its name on the stack's network, and the proxies of MASTERCLASS_TRUSTED_PROXIES.
    hops = f"{env.get('MASTERCLASS_TRUSTED_PROXIES', '')},{env.get('MASTERCLASS_FRONT_HOST', '')}"
    c.RosterAuthenticator.front_hosts = [h.strip() for h in hops.split(",") if h.strip()]
    # A login cookie (and the OAuth tokens of JupyterLab) lasts a class day, not two weeks.
    c.JupyterHub.cookie_max_age_days = float(env.get("MASTERCLASS_SESSION_DAYS", "1"))


#: MASTERCLASS_BACKEND → the spawner class for it (MASTERCLASS_SPAWNER overrides both).
SPAWNERS = {
    # Containers on this host's engine (the hub's own machine).
    "docker": "masterclass.hub.spawner.PairSpawner",
    # One-task Swarm services on the swarm's pair nodes (docs/scale-out.md).
    "swarm": "masterclass.hub.swarm.SwarmSpawner",
}


def update_spawner_class(c, env):
    """The ONE place that chooses how pairs' servers run: on this host, or on a Docker Swarm."""
    backend = env.get("MASTERCLASS_BACKEND", "docker")
    if backend not in SPAWNERS:
        raise ValueError(f"MASTERCLASS_BACKEND={backend!r}: one of {', '.join(SPAWNERS)}")
    # Both are DockerSpawners: every DockerSpawner setting below also applies to the swarm's.
    c.JupyterHub.spawner_class = env.get("MASTERCLASS_SPAWNER", SPAWNERS[backend])


def update_spawner(c, env):
    """Each pair gets its own limited, isolated container with a persistent home."""
    image = env.get("MASTERCLASS_STUDENT_IMAGE", "masterclass/student:latest")
    prefix = env.get("MASTERCLASS_PREFIX", "masterclass")
    mem = env.get("MASTERCLASS_MEM_LIMIT", "8G")
    # The student image is the image every pair runs.
    c.DockerSpawner.image = image
    # ...and the only one: no pair can ask for another image.
    c.DockerSpawner.allowed_images = [image]
    # Containers are named <prefix>-<username>, e.g. masterclass-pair-01.
    c.DockerSpawner.prefix = prefix
    # Roster usernames stay readable in container and volume names (no pair-2d01).
    c.DockerSpawner.escape = docker_safe_name
    # The spawn network, created by compose, shared with the hub and nothing else.
    c.DockerSpawner.network_name = env["MASTERCLASS_NETWORK"]
    # The hub talks to the containers over that network, no host ports are opened.
    c.DockerSpawner.use_internal_ip = True
    # One named volume per pair holds its home and outlives the container.
    c.DockerSpawner.volumes = {HOME_VOLUME.format(prefix=prefix): HOME}
    # JupyterLab's file browser starts in the home directory.
    c.DockerSpawner.notebook_dir = HOME
    # A stopped server's container is deleted; only the home volume stays.
    c.DockerSpawner.remove = True
    # Memory limit per pair (default 8G); the lean toolkit peaks at about 1.3 GB (docs/toolkit.md).
    c.DockerSpawner.mem_limit = mem
    # CPU limit per pair, in cores.
    c.DockerSpawner.cpu_limit = float(env.get("MASTERCLASS_CPU_LIMIT", "2"))
    # Threads that call the Docker engine (upstream: one): a class logging in at once
    # gets its containers created side by side (masterclass.hub.spawner).
    c.DockerSpawner.docker_threads = int(env.get("MASTERCLASS_DOCKER_THREADS", "4"))
    # Run as the image's unprivileged user even if the image changes its USER.
    c.DockerSpawner.extra_create_kwargs = {"user": "1000:1000"}
    host_config = {
        # Swap capped at the memory limit, so the memory limit is real (no swapping).
        "memswap_limit": mem,
        # Caps processes and threads (TensorFlow uses a few hundred threads at most).
        "pids_limit": int(env.get("MASTERCLASS_PIDS_LIMIT", "1024")),
        # No setuid escalation inside the container.
        "security_opt": ["no-new-privileges"],
        # A pair's server needs no Linux capabilities at all.
        "cap_drop": ["ALL"],
        # The image is read-only: a pair writes only its home and a small /tmp.
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={env.get('MASTERCLASS_TMP_SIZE', '256m')}"},
        # The server's log stays small, whatever a pair prints to it.
        "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}},
    }
    # (On a swarm, masterclass.hub.swarm carries all of these to the service, or refuses.)
    if env.get("MASTERCLASS_BACKEND", "docker") == "docker":
        # The home's size bound is made on this host, so it holds on the docker backend only.
        quota = env.get("MASTERCLASS_HOME_QUOTA", HOME_QUOTA)
        if not SIZE.match(quota) and quota != "0":
            raise ValueError(f"MASTERCLASS_HOME_QUOTA={quota!r}: a size like 2G, or 0 for none")
        # Each pair's home is a file system of its own, MASTERCLASS_HOME_QUOTA in size (2G),
        # made and mounted on the host before its server starts (masterclass.hub.disk).
        c.DockerSpawner.pre_spawn_hook = (
            None
            if quota == "0"
            else HomeBound(
                prefix, env.get("MASTERCLASS_HOMES_DIR") or HOMES_DIR.format(prefix=prefix), quota
            )
        )
    c.DockerSpawner.extra_host_config = host_config


def update_swarm(c, env):
    """On a Docker Swarm: where pairs' servers run and what each one reserves (scale-out.md)."""
    # Only nodes with this label (value "true") run pairs; the swarm role sets it on workers.
    c.SwarmSpawner.pair_node_label = env.get("MASTERCLASS_PAIR_NODE_LABEL", "masterclass.pairs")
    # Reserve the measured peak of a training pair (1.3 GB), not the 8G limit: the scheduler
    # spreads pairs by it and never puts more pairs on a node than fit at their peak.
    reservation = env.get("MASTERCLASS_MEM_RESERVATION") or pair_reservation_bytes()
    c.SwarmSpawner.mem_guarantee = reservation
    # Each node must hold the student image already (`masterclass class warm`): no registry.
    c.SwarmSpawner.pull_policy = "skip"


def update_spawn_timing(c, env):
    """Timeouts sized for a TensorFlow image and a class that logs in within a minute."""
    # Seconds a container may take to start (cold disk cache: a 2.6 GB image).
    c.Spawner.start_timeout = int(env.get("MASTERCLASS_START_TIMEOUT", "300"))
    # Seconds the started server may take to answer over HTTP (JupyterLab's first start).
    c.Spawner.http_timeout = int(env.get("MASTERCLASS_HTTP_TIMEOUT", "180"))
    # Spawns at once: a whole class logging in within a minute must not hit 429.
    c.JupyterHub.concurrent_spawn_limit = int(env.get("MASTERCLASS_CONCURRENT_SPAWNS", "40"))
    # Restarting the hub keeps the pairs' servers (and kernels) running.
    c.JupyterHub.cleanup_servers = False


def update_landing(c, env):
    """What a pair sees after login: JupyterLab, with the worksheet open if there is one."""
    worksheet = env.get("MASTERCLASS_WORKSHEET", "")
    # After login pairs go to their server; tutors and organisers to the hub's home page.
    c.JupyterHub.default_url = landing_url
    # The worksheet's path in the home (put there by nbgrader's fetch), else JupyterLab.
    c.Spawner.default_url = f"/lab/tree/{worksheet}" if worksheet else "/lab"
    hub_host = env.get("MASTERCLASS_HUB_HOST", "hub")
    c.Spawner.environment = {
        # Messages of the student toolkit in the class language.
        "MASTERCLASS_LANG": env.get("MASTERCLASS_LANG", "de"),
        # nbgrader's exchange service, reached through the proxy on the spawn network.
        "MASTERCLASS_EXCHANGE_URL": f"http://{hub_host}:8000/services/exchange/",
        # The class results board, where the worksheet posts each measurement (docs/board.md).
        "MASTERCLASS_RESULTS_URL": f"http://{hub_host}:8000/services/results/",
        # Where the pair's server keeps the worksheet (or, until it is released, a notice).
        "MASTERCLASS_WORKSHEET": worksheet,
    }
    # The pair's Jupyter server explains a kernel killed by the memory limit...
    oom = "--ServerApp.kernel_websocket_connection_class=masterclass.toolkit.oom.OOMAwareConnection"
    # ...and a save into a full home, in the class language (MASTERCLASS_HOME_QUOTA).
    disk = (
        "--ServerApp.contents_manager_class=masterclass.toolkit.diskfull.DiskAwareContentsManager"
    )
    c.Spawner.args = [oom, disk] if env.get("MASTERCLASS_OOM_MESSAGE", "1") == "1" else [disk]


def update_services(c, env):
    """Hub services: idle culler, organiser CLI, exchange, formgrader and results board."""
    state = Path(env.get("MASTERCLASS_STATE_DIR", "/srv/jupyterhub/state"))
    # Beside the state: tokens that service containers read (their own volume, see compose).
    secrets = Path(env.get("MASTERCLASS_SECRETS_DIR", state.parent / "secrets"))
    timeout = int(env.get("MASTERCLASS_CULL_TIMEOUT", "7200"))
    every = int(env.get("MASTERCLASS_CULL_EVERY", "300"))
    course_file = env.get("MASTERCLASS_COURSE_FILE", "/srv/jupyterhub/course/course.toml")
    exchange = env.get("MASTERCLASS_EXCHANGE_DIR", "/srv/nbgrader/exchange")
    results = env.get("MASTERCLASS_RESULTS_DIR", "/srv/masterclass/results")
    c.JupyterHub.services = [
        {
            # Stops servers idle for longer than a lunch break (busy kernels count as
            # activity); it only stops servers, never deletes users.
            "name": "idle-culler",
            "command": [
                sys.executable,
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={timeout}",
                f"--cull-every={every}",
            ],
        },
        {
            # `masterclass class warm/status/purge` call the REST API with this token
            # (mode 600 in the state volume, read there through `docker exec`).
            "name": "masterclass-cli",
            "api_token": read_or_create_secret(state / "cli-api-token"),
        },
        {
            # nbgrader's exchange (docs/grading.md): stores releases and submissions in
            # the exchange volume and learns who calls only from the hub's token check.
            # The proxy serves it at /services/exchange/.
            "name": "exchange",
            "url": "http://127.0.0.1:10102",
            "command": [
                sys.executable,
                "-m",
                "masterclass.grading.service",
                f"--root={exchange}",
                f"--course-file={course_file}",
            ],
            "display": False,
        },
        {
            # nbgrader's formgrader for the tutors, in its own container (the compose
            # service `formgrader`, no Docker socket), opened as a page of its own at
            # /services/formgrader/ (never in an iframe: JupyterHub's CSP forbids that).
            # Its token is in the secrets volume, which only the hub and it mount.
            "name": "formgrader",
            "url": env.get("MASTERCLASS_FORMGRADER_URL", "http://formgrader:8888"),
            "api_token": read_or_create_secret(secrets / "formgrader-api-token"),
            # Tutors go straight to the page, without an "authorize access" step.
            "oauth_no_confirm": True,
            "display": True,
        },
        {
            # The class results board (docs/board.md) at /services/results/: pairs post
            # their results with their server's token, tutors and organisers watch the
            # projector. It learns who calls only from the hub's token check; its store is
            # the results volume.
            "name": "results",
            "url": "http://127.0.0.1:10103",
            "command": [
                sys.executable,
                "-m",
                "masterclass.board.service",
                f"--root={results}",
                f"--lang={env.get('MASTERCLASS_LANG', 'de')}",
                f"--heartbeat={env.get('MASTERCLASS_BOARD_HEARTBEAT', '10')}",
            ],
            # Logins to the board may carry the projector scope (only tutors and organisers
            # hold it), and skip the "authorize access" page: it is our own service.
            "oauth_client_allowed_scopes": ["custom:results:projector"],
            "oauth_no_confirm": True,
            "display": True,
        },
    ]


def update_roles(c, env):
    """Groups and RBAC: pairs use their own server, tutors help pairs, organisers admin."""
    # Groups come from the roster at each login (RosterAuthenticator.manage_groups).
    c.JupyterHub.load_roles = [
        {
            # Pairs have only their own server; naming the role creates the group.
            "name": "pair",
            "scopes": ["self"],
            "groups": ["pairs"],
        },
        {
            # Tutors may see, start, stop and open any pair's server to help, also from
            # the hub's admin page (which then shows and acts on pairs only).
            "name": "tutor",
            "scopes": [
                "self",
                "admin-ui",
                "list:users",
                "read:users!group=pairs",
                "read:servers!group=pairs",
                "servers!group=pairs",
                "access:servers!group=pairs",
            ],
            "groups": ["tutors"],
        },
        {
            # Names the organisers group before the admin role does: JupyterHub 6.1 crashes
            # on a fresh database when the admin role is the first to name a group.
            "name": "organiser",
            "scopes": ["self"],
            "groups": ["organisers"],
        },
        {
            # Organisers are hub admins.
            "name": "admin",
            "groups": ["organisers"],
        },
        {
            # The organiser CLI creates and deletes pairs and starts and stops their servers.
            "name": "masterclass-cli",
            "scopes": ["admin:users", "admin:servers"],
            "services": ["masterclass-cli"],
        },
        {
            # The idle culler may list servers and stop them, nothing else.
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
        {
            # Pairs and tutors may call the exchange service (it still sees only its caller).
            "name": "exchange-user",
            "scopes": ["access:services!service=exchange"],
            "groups": ["pairs", "tutors"],
        },
        {
            # Everyone in the class may use the results board (each sees only what is theirs).
            "name": "results-user",
            "scopes": ["access:services!service=results"],
            "groups": ["pairs", "tutors", "organisers"],
        },
        {
            # Tutors and organisers see the board's projector view and work its switch.
            "name": "results-projector",
            "scopes": ["custom:results:projector"],
            "groups": ["tutors", "organisers"],
        },
        {
            # Tutors and organisers may open the formgrader; pairs get a 403 there.
            "name": "formgrader-user",
            "scopes": ["access:services!service=formgrader"],
            "groups": ["tutors", "organisers"],
        },
        {
            # `masterclass class collect` reads the notebook of a pair that never submitted
            # through that pair's own server (contents API, GET only). Unfiltered: a
            # server cannot resolve a !group= filter of an API token (the CLI is admin anyway).
            "name": "masterclass-cli-collect",
            "scopes": ["access:servers"],
            "services": ["masterclass-cli"],
        },
    ]


def update_pages(c, env):
    """The hub's own pages in the class language (hub/templates/): login, spawn, errors."""
    # Our templates first; they extend JupyterHub's ("templates/login.html").
    c.JupyterHub.template_paths = [env.get("MASTERCLASS_TEMPLATES", str(HERE / "templates"))]
    # The pages' texts (German by default), from the one message catalogue.
    c.JupyterHub.template_vars = {
        "masterclass": login_page_texts(env.get("MASTERCLASS_LANG", "de")),
        "masterclass_pages": hub_page_texts(env.get("MASTERCLASS_LANG", "de")),
    }


def update_headers(c, env):
    """Security headers on the hub's pages (next to JupyterHub's CSP) and cookie attributes."""
    # JupyterHub keeps its default Content-Security-Policy when these do not name one;
    # nosniff stops browsers guessing script types, same-origin keeps hub URLs in referrers home.
    c.JupyterHub.tornado_settings = {
        "headers": {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"},
        # Every cookie of the hub, the pairs' servers and _xsrf: not sent on other sites'
        # requests (SameSite), and forgotten by the browser when the login ends anyway.
        "cookie_options": {
            "samesite": "Lax",
            "expires_days": float(env.get("MASTERCLASS_SESSION_DAYS", "1")),
        },
    }


def update_grading(c, env):
    """A pair's server token may call the exchange (docs/grading.md) and the results board."""
    # The server role's usual scopes, plus the exchange service.
    c.Spawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        "access:services!service=exchange",
        # ...and the results board, where the worksheet posts the pair's measurement.
        "access:services!service=results",
    ]


def update_board(c, env):
    """The class results board's own scope (the service and its roles are set above)."""
    # The projector view and the tutor switch need this scope; pairs never hold it.
    c.JupyterHub.custom_scopes = {
        "custom:results:projector": {
            "description": "See every pair's results on the projector, freeze and reveal them.",
        },
    }


def update_all(c, env):
    """Apply every part of the configuration, in order."""
    update_state(c, env)
    update_network(c, env)
    update_auth(c, env)
    update_spawner_class(c, env)
    update_spawner(c, env)
    update_swarm(c, env)
    update_spawn_timing(c, env)
    update_landing(c, env)
    update_services(c, env)
    update_roles(c, env)
    update_pages(c, env)
    update_headers(c, env)
    update_grading(c, env)
    update_board(c, env)


update_all(c, os.environ)

# The escape hatch: site-specific config files, applied last, in name order.
for extra in sorted(glob(str(HERE / "jupyterhub_config.d" / "*.py"))):
    load_subconfig(extra)
