"""nbgrader across containers: release, auto-fetch, submit, isolation, collect, autograde, export.

One compose stack, three pairs of the demo class, a tiny placeholder assignment that
runs the real worksheet helpers with short settings (one epoch on a few hundred
events), and the real `masterclass class release | collect | export` commands.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import nbformat
import pytest
from browser_fixtures import chromium, login, new_page, screenshot_on_failure  # noqa: F401
from hub_fixtures import Browser, Kernel, Stack
from playwright.sync_api import expect

pytestmark = [pytest.mark.docker, pytest.mark.slow]

COURSE = "masterclass"  # the hub's course id (hub/course/course.toml)
SECRET = "factor = 1  # the secret solution"
HIDDEN = "assert factor < 1000  # hidden check"
SETUP = """\
from masterclass import *
set_random_seeds(1)
events = load_events()
events_tv, events_rest = split_events_random(events, fraction_first_block=0.2)
events_test, _ = split_events_random(events_rest, fraction_first_block=0.1)
"""
RUN = """\
events_augmented = augment_events(events_tv, [factor, factor, factor, factor])
events_training, events_validation = split_events_random(events_augmented, fraction_first_block=0.8)
model = MLModel()
model.load_structure_default()
model.load_training_eventlist(events_training)
model.load_validation_eventlist(events_validation)
model.train(count_epochs=1)
events_predicted = model.predict(events_test)
accuracy = calculate_prediction_accuracy(events_test, events_predicted)
overview = Overview()
overview.add_entry("Test (network)", events_predicted, overwrite=True)
"""


def placeholder(source: Path) -> None:
    """The assignment `tiny`: the gap-fill shape (gap, graded check, hidden test) in small."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    meta = {"schema_version": 3, "locked": False}
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(
            f"factor = (\n### BEGIN SOLUTION\n{SECRET}\n### END SOLUTION\n)",
            metadata={"nbgrader": {**meta, "grade": False, "solution": True, "grade_id": "gap"}},
        ),
        nbformat.v4.new_code_cell(
            "assert factor is not ..., 'The gap is still empty'\nassert factor >= 1\n"
            f"### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS",
            metadata={
                "nbgrader": {
                    **meta,
                    "locked": True,
                    "grade": True,
                    "solution": False,
                    "points": 1,
                    "grade_id": "check",
                }
            },
        ),
        nbformat.v4.new_code_cell(RUN),
    ]
    (source / "tiny").mkdir(parents=True)
    nbformat.write(nb, source / "tiny" / "tiny.ipynb")


@pytest.fixture(scope="module")
def course_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for lang in ("de", "en"):
        placeholder(root / lang / "source")
        (root / lang / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            "c.ClearSolutions.code_stub = {'python': '...  # fill in'}\n"
            "c.Execute.timeout = 600\n"
        )
    path = root / "course.toml"
    path.write_text(
        f'course_id = "{COURSE}"\nassignments = ["tiny"]\n'
        f'source = "{root}/{{lang}}/source"\n'
        f'nbgrader_config = "{root}/{{lang}}/nbgrader_config.py"\n'
    )
    return path


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    grading = Stack(MASTERCLASS_MEM_LIMIT="3G", MASTERCLASS_WORKSHEET="tiny/tiny.ipynb")
    with grading.running(request) as s:
        yield s


def cli(stack: Stack, course_file: Path, *args: str, check: bool = True, timeout: float = 900):
    """The organiser's `masterclass class …` against this stack, from a neutral directory."""
    env = {
        **stack.env,
        "MASTERCLASS_API_URL": f"{stack.url}/hub/api",
        "MASTERCLASS_COURSE_FILE": str(course_file),
        "MASTERCLASS_CLASS_DIR": str(course_file.parent / "class"),
        "MASTERCLASS_MEM_LIMIT": "3G",
    }
    run = subprocess.run(
        [str(Path(sys.executable).parent / "masterclass"), "class", *args],
        cwd=course_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert run.returncode == 0, f"{args}: {run.stdout}\n{run.stderr}\n{stack.explain()}"
    return run


class Pair:
    """A logged-in pair with a running server and an API token, like JupyterLab."""

    def __init__(self, stack: Stack, user: str, password: str) -> None:
        self.stack, self.user = stack, user
        self.container = stack.container(user)
        self.browser = Browser(stack)
        assert self.browser.login(user, password).status_code == 302
        self.browser.start_server()
        self.token = self.browser.token()
        self.http = httpx.Client(
            base_url=f"{stack.url}/user/{user}",
            headers={"Authorization": f"token {self.token}"},
            timeout=120,
        )

    def notebook(self) -> dict:
        r = self.http.get("/api/contents/tiny/tiny.ipynb")
        assert r.status_code == 200, r.text
        return r.json()["content"]

    def fill_gap(self, value: str) -> None:
        nb = self.notebook()
        nb["cells"][1]["source"] = f"factor = (\n{value}\n)"
        r = self.http.put("/api/contents/tiny/tiny.ipynb", json={"type": "notebook", "content": nb})
        assert r.status_code == 200, r.text

    def assignments(self, action: str = "", **data) -> dict:
        """The assignment list's own server API, as JupyterLab's Assignments panel calls it."""
        if action:
            r = self.http.post(f"/assignments/{action}", data={"course_id": COURSE, **data})
        else:
            r = self.http.get("/assignments", params={"course_id": COURSE})
        assert r.status_code == 200, r.text
        return r.json()

    def submit(self) -> None:
        answer = self.assignments("submit", assignment_id="tiny")
        assert answer["success"], answer

    def in_container(self, code: str, **env: str) -> subprocess.CompletedProcess:
        """Python in the pair's own container, with the server's environment (its token)."""
        extra = [f"--env={k}={v}" for k, v in env.items()]
        return subprocess.run(
            [
                *("docker", "exec", *extra, "-w", "/home/jovyan"),
                self.container,
                "python3",
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def released(stack, course_file):
    run = cli(stack, course_file, "release")
    assert "Released tiny" in run.stdout
    return run


@pytest.fixture(scope="module")
def pairs(stack, released):
    logins = stack.demo_logins()
    return {u: Pair(stack, u, logins[u]) for u in ("pair-01", "pair-02", "pair-03")}


@pytest.fixture(scope="module")
def worked(stack, pairs):
    """Pair 1 runs the real helpers and submits; pair 2 submits twice; pair 3 only edits."""
    a, b, c = pairs["pair-01"], pairs["pair-02"], pairs["pair-03"]
    a.fill_gap("1")
    kernel = Kernel(stack, a.user, a.token)
    code = SETUP + "factor = 1\n" + RUN
    result = kernel.execute(f"import os\nos.chdir('tiny')\n{code}\nprint('ACC', accuracy)", 600)
    kernel.close()
    assert result["status"] == "ok", result
    a.submit()
    b.submit()  # the gap still empty: 0 points
    b.fill_gap("2")
    b.submit()  # the latest counts
    c.fill_gap("3")
    return pairs


def test_the_worksheet_is_fetched_at_start_and_has_no_solution(pairs, stack):
    for pair in pairs.values():
        text = json.dumps(pair.notebook())
        assert "...  # fill in" in text
        for secret in (SECRET, HIDDEN, "BEGIN SOLUTION", "HIDDEN TESTS"):
            assert secret not in text
        listed = pair.assignments()
        assert listed["success"], listed
        assert [(x["assignment_id"], x["status"]) for x in listed["value"]] == [("tiny", "fetched")]
    # The pair's server opens the worksheet (MASTERCLASS_WORKSHEET → Spawner.default_url).
    page = pairs["pair-01"].browser.http.get("/user/pair-01/")
    assert str(page.url).endswith("/lab/tree/tiny/tiny.ipynb"), page.url


def test_a_pair_sees_only_its_own_submissions(worked):
    listed = worked["pair-02"].assignments()
    submitted = [x for x in listed["value"] if x["status"] == "submitted"]
    assert len(submitted) == 1 and submitted[0]["student_id"] == "pair-02"
    assert len(submitted[0]["submissions"]) == 2
    assert [x for x in worked["pair-03"].assignments()["value"] if x["status"] == "submitted"] == []


ISOLATION = r"""
import json, os, sys, httpx
url = os.environ["MASTERCLASS_EXCHANGE_URL"].rstrip("/") + "/api/"
auth = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}
out = {}
mine = httpx.get(url + "assignments", headers=auth).json()
out["user"] = mine["user"]
out["listed_users"] = sorted({s.get("student_id", mine["user"]) for s in mine["submissions"]})
for name, path in {
    "inbound": "assignments/../inbound/files",
    "encoded": "assignments/..%2Finbound%2Fpair-02%2Btiny/files",
    "feedback_b": "assignments/tiny/feedback?user=pair-02",
    "other_assignment": "assignments/pair-02+tiny/files",
}.items():
    r = httpx.get(url + path, headers={**auth, "X-Forwarded-User": "pair-02"})
    out[name] = r.status_code
out["no_token"] = httpx.get(url + "assignments").status_code
forged = {"Authorization": "token forged"}
out["forged_token"] = httpx.get(url + "assignments", headers=forged).status_code
out["exchange_mounted"] = os.path.exists("/srv/nbgrader")
print(json.dumps(out))
"""


def test_isolation_from_inside_pair_a(stack, worked):
    a = worked["pair-01"]
    run = a.in_container(ISOLATION)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["user"] == "pair-01"
    assert seen["listed_users"] == ["pair-01"]
    for name in ("inbound", "encoded", "feedback_b", "other_assignment"):
        assert seen[name] in (400, 403, 404), seen
    assert seen["no_token"] == 403 and seen["forged_token"] == 403
    assert not seen["exchange_mounted"]
    # Submitting "as pair-02" with a forged JUPYTERHUB_USER and --student lands as pair-01.
    forged = a.in_container(
        "import subprocess, sys; sys.exit(subprocess.call(['nbgrader', 'submit', 'tiny', "
        f"'--course={COURSE}', '--student=pair-02']))",
        JUPYTERHUB_USER="pair-02",
    )
    assert forged.returncode == 0, forged.stderr
    listing = worked["pair-02"].assignments()
    subs = next(x for x in listing["value"] if x["status"] == "submitted")["submissions"]
    assert len(subs) == 2, "pair-02 must not have gained a submission"
    mine = next(x for x in a.assignments()["value"] if x["status"] == "submitted")
    assert len(mine["submissions"]) == 2 and mine["student_id"] == "pair-01"


@pytest.fixture(scope="module")
def collected(stack, course_file, worked):
    first = cli(stack, course_file, "collect")
    second = cli(stack, course_file, "collect")
    export = cli(stack, course_file, "export")
    return first, second, export


def test_collect_grades_everyone_and_is_repeatable(collected, course_file):
    first, second, _ = collected
    assert "pair-01: submitted" in first.stdout
    assert "pair-02: submitted" in first.stdout
    assert "pair-03: not submitted" in first.stdout
    assert "PROBLEM" not in first.stdout, first.stdout
    assert first.stdout == second.stdout


def test_export_has_a_row_per_pair_with_results(collected, course_file, stack):
    rows = {
        r["pair"]: r for r in csv.DictReader((course_file.parent / "class" / "grades.csv").open())
    }
    assert sorted(rows) == ["pair-01", "pair-02", "pair-03"]
    assert rows["pair-01"]["score"] == "1.0"
    assert rows["pair-02"]["score"] == "1.0"  # the latest submission, not the empty first one
    assert rows["pair-03"]["status"] == "not submitted" and rows["pair-03"]["score"] == "1.0"
    a = rows["pair-01"]
    assert 0 <= float(a["test_accuracy"]) <= 1
    assert a["epochs"] == "1" and a["augmentation_factors"] == "1 1 1 1"
    ratios = [float(a[f"measured_{c}"]) for c in "qemt"]
    assert abs(sum(ratios) - 1) < 1e-6
    marker = stack.hub_exec("cat", "/srv/jupyterhub/state/exported.json")
    assert json.loads(marker)["time"]


FORMGRADER = "/services/formgrader/formgrader"


def formgrader_session(stack: Stack, user: str) -> Browser:
    """A logged-in browser that has opened the formgrader (and passed its OAuth step)."""
    browser = Browser(stack)
    assert browser.login(user, stack.demo_logins()[user]).status_code == 302
    return browser


def test_the_formgrader_is_for_tutors_only(stack, collected):
    tutor = formgrader_session(stack, "tutor-01")
    page = tutor.http.get(FORMGRADER)
    # A page of its own (no iframe, so JupyterHub's frame-ancestors 'none' does not blank it).
    assert page.status_code == 200 and str(page.url).endswith("/manage_assignments"), page.url
    assert "Manage Assignments" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # The hub's home page offers it to tutors in the Services menu.
    assert "/services/formgrader/" in tutor.http.get("/hub/home").text
    # No terminals in the formgrader's server.
    assert tutor.http.get("/services/formgrader/api/terminals").status_code == 404

    pair = formgrader_session(stack, "pair-01")
    assert pair.http.get(FORMGRADER).status_code == 403
    assert pair.http.get(f"{FORMGRADER}/api/submissions/tiny").status_code == 403
    assert "/services/formgrader/" not in pair.http.get("/hub/home").text
    # Nobody logged in: the hub's login page.
    anonymous = httpx.Client(base_url=stack.url, follow_redirects=True, timeout=60)
    assert "/hub/login" in str(anonymous.get(FORMGRADER).url)


def test_the_formgrader_container_has_no_docker_socket_and_no_hub_state(stack):
    info = stack.inspect(f"{stack.prefix}-formgrader")
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert "/var/run/docker.sock" not in mounts
    assert not any(m.get("Name", "").endswith("-hub-state") for m in mounts.values())
    assert mounts["/srv/secrets"]["RW"] is False
    host = info["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and host["Memory"] > 0 and host["PidsLimit"] == 1024
    assert list(info["NetworkSettings"]["Networks"]) == [f"{stack.prefix}-spawn"]


def test_the_formgrader_shows_what_collect_graded(stack, collected, course_file):
    tutor = formgrader_session(stack, "tutor-01")
    tutor.http.get(FORMGRADER)
    r = tutor.http.get(f"{FORMGRADER}/api/submissions/tiny")
    assert r.status_code == 200, r.text[:500]
    graded = {s["student"]: s for s in r.json()}
    assert sorted(graded) == ["pair-01", "pair-02", "pair-03"]
    # The same scores the export wrote from the same gradebook.
    rows = csv.DictReader((course_file.parent / "class" / "grades.csv").open())
    exported = {r["pair"]: float(r["score"]) for r in rows}
    for pair, entry in graded.items():
        assert entry["autograded"] and entry["score"] == exported[pair] == 1.0, entry


def test_a_tutor_grades_in_the_formgrader_page(stack, collected, chromium, tmp_path):  # noqa: F811
    """Real Chromium: the formgrader as a page of its own, with every pair's notebook."""
    page = new_page(chromium)
    try:
        with screenshot_on_failure(page, tmp_path, "formgrader"):
            login(
                page,
                stack.url,
                "tutor-01",
                stack.demo_logins()["tutor-01"],
                next_url="/services/formgrader/",
            )
            expect(page).to_have_url(
                re.compile(r"/services/formgrader/formgrader/manage_assignments")
            )
            expect(
                page.get_by_role("heading", name=re.compile("Manage Assignments"))
            ).to_be_visible()
            expect(page.locator("tr").filter(has_text="tiny").first).to_be_visible()
            # Manual grading: the notebook list of the assignment shows all three pairs
            # (anonymised as "Submission #n" until the tutor reveals the names).
            page.goto(f"{stack.url}{FORMGRADER}/gradebook/tiny/tiny")
            rows = page.locator("tbody tr")
            expect(rows).to_have_count(3)
            # Opening one shows the pair's notebook, its filled gap and the autograded score.
            page.get_by_role("link", name="Submission #1", exact=True).click()
            expect(page).to_have_url(re.compile(r"/formgrader/submissions/"))
            expect(page.get_by_text("factor = (").first).to_be_visible()
            # The autograded points are the placeholder; the field is for a manual override.
            score = page.locator("input#check")
            expect(score).to_have_attribute("placeholder", re.compile(r"^1(\.0+)?$"))
            expect(score).to_be_editable()
    finally:
        page.context.close()


def test_the_formgrader_releases_to_the_exchange(stack, collected, pairs):
    tutor = formgrader_session(stack, "tutor-01")
    tutor.http.get(FORMGRADER)
    headers = tutor.xsrf_headers("/services/formgrader/")
    for step in ("unrelease", "release"):
        r = tutor.http.post(f"{FORMGRADER}/api/assignment/tiny/{step}", headers=headers)
        assert r.status_code == 200 and r.json()["success"], (step, r.text[:2000])
    # The pairs' list (through the exchange service) still offers the released version.
    listed = pairs["pair-03"].assignments()
    assert "tiny" in {x["assignment_id"] for x in listed["value"]}, listed
    released = stack.docker(
        "exec",
        f"{stack.prefix}-formgrader",
        "cat",
        f"/srv/nbgrader/exchange/{COURSE}/outbound/tiny/tiny.ipynb",
    ).stdout
    assert "...  # fill in" in released and SECRET not in released and HIDDEN not in released


def test_a_damaged_submission_is_named_and_the_others_are_graded(collected, worked, course_file):
    stack = worked["pair-01"].stack
    run = worked["pair-01"].in_container(
        "import subprocess\n"
        "open('tiny/tiny.ipynb', 'w').write('{\"cells\": [')  # truncated\n"
        "subprocess.check_call(['nbgrader', 'submit', 'tiny', '--course=masterclass'])\n"
    )
    assert run.returncode == 0, run.stderr
    again = cli(stack, course_file, "collect")
    line = next(x for x in again.stdout.splitlines() if "pair-01" in x)
    assert "tiny.ipynb is damaged" in line
    assert "pair-02: submitted" in again.stdout and "pair-03: not submitted" in again.stdout
    assert again.stdout.count("PROBLEM") == 1
