"""The class results board on a real stack: pairs' kernels post, boards show it live.

One compose stack (the demo class: three pairs and a tutor; more pairs for the load
test). A tutor's projector page is opened in Chromium **before** the pairs start; then
each pair runs the worksheet's short path (one epoch, small factors) in its own real
kernel, and the pair's row must appear on the open page within 2 s of the accuracy
cell finishing, without a reload. Then: the charts, the tutor switch, the pair's own
view, a pair refused at the projector; over HTTP the forged identities, every bad
value, an oversized body, posting for another pair, a hub restart, the export and the
purge; and 30 pairs posting within 5 s while 3 boards are open.

Every failure inside a page names a screenshot in the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest
from browser_fixtures import (
    ConsoleLog,
    chromium,  # noqa: F401  (the fixture)
    login,
    new_page,
    screenshot_on_failure,
)
from hub_fixtures import Browser, Kernel, Stack, wait_until
from playwright.sync_api import expect
from solution_path import solution_path
from sse_client import EventStream

from masterclass.messages import table

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BOARD = "/services/results/"
#: The board's texts in the stacks' class language (German by default).
TEXTS = table("board")
#: The worksheet's short path: one epoch, small factors.
SHORT = {"epochs": 1, "factors": (1, 3, 3, 3)}
PAIRS = ("pair-01", "pair-02", "pair-03")
#: Seconds between the board's pings in this stack (the default is 10).
HEARTBEAT = 2


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    board = Stack(MASTERCLASS_MEM_LIMIT="3G", MASTERCLASS_BOARD_HEARTBEAT=str(HEARTBEAT))
    with board.running(request) as s:
        yield s


@pytest.fixture(scope="module")
def logins(stack) -> dict[str, str]:
    return stack.demo_logins()


def api_client(stack: Stack, user: str, password: str) -> tuple[Browser, httpx.Client]:
    """*user* logged in through the form, and a client with a token of theirs for the board."""
    browser = Browser(stack)
    assert browser.login(user, password).status_code == 302
    board = httpx.Client(
        base_url=f"{stack.url}{BOARD}",
        headers={"Authorization": f"token {browser.token()}"},
        timeout=30,
    )
    return browser, board


@pytest.fixture(scope="module")
def tutor(stack, logins) -> httpx.Client:
    return api_client(stack, "tutor-01", logins["tutor-01"])[1]


def store(stack: Stack, *args: str) -> dict:
    """``python -m masterclass.board.store`` in the hub container (what the organiser runs)."""
    return json.loads(stack.hub_exec("python", "-m", "masterclass.board.store", *args))


@pytest.fixture(scope="module")
def projector(chromium, stack, logins, tmp_path_factory):  # noqa: F811
    """The tutor's projector page, opened before any pair has a result (a module-wide page)."""
    page = new_page(chromium)
    console = ConsoleLog(page)
    page.navigations = []
    page.on(
        "framenavigated",
        lambda frame: frame == page.main_frame and page.navigations.append(frame.url),
    )
    try:
        with screenshot_on_failure(page, tmp_path_factory.mktemp("projector"), "open"):
            login(page, stack.url, "tutor-01", logins["tutor-01"], next_url=f"{BOARD}projector")
            expect(page).to_have_url(re.compile(rf"{BOARD}projector$"))
            expect(page.locator("body")).to_have_attribute("data-state", "live")
            expect(page.locator("#empty")).to_be_visible()
            page.navigations.clear()
        page.console = console
        yield page
    finally:
        page.context.close()


class Pair:
    """A pair as in class: logged in, its server running, a kernel in the worksheet's folder."""

    def __init__(self, stack: Stack, user: str, password: str) -> None:
        self.stack, self.user = stack, user
        self.browser, self.board = api_client(stack, user, password)
        self.browser.start_server()
        self.kernel: Kernel | None = None

    def run(self, code: str, timeout: float = 600) -> dict:
        """Run *code* in the pair's kernel (a fresh websocket each time: an idle one is closed)."""
        if self.kernel is None:
            self.kernel = Kernel(self.stack, self.user, self.browser.token())
            code = f"import os\nos.makedirs('z-boson', exist_ok=True)\nos.chdir('z-boson')\n{code}"
        else:
            self.kernel.close()
            self.kernel.ws = self.kernel.connect()
        ran = self.kernel.execute(code, timeout)
        assert ran["status"] == "ok", f"{self.user}: {ran}\n{self.stack.explain()}"
        return ran

    def in_container(self, code: str) -> dict:
        """Python in the pair's container with the server's environment (its own token)."""
        out = self.stack.docker("exec", self.stack.container(self.user), "python3", "-c", code)
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pairs(stack, logins, projector) -> dict[str, Pair]:
    return {user: Pair(stack, user, logins[user]) for user in PAIRS}


@pytest.fixture(scope="module")
def worked(stack, pairs, projector, tmp_path_factory) -> dict[str, float]:
    """Each pair runs the short path; seconds from its accuracy cell to its row on the page."""
    shots = tmp_path_factory.mktemp("rows")
    latency = {}
    for n, (user, pair) in enumerate(pairs.items(), start=1):
        pair.run(solution_path(seed=n, evaluate=False, **SHORT))
        # The worksheet's prediction and accuracy cells: the moment the row must follow.
        pair.run("pred = m.predict(test)\naccuracy = calculate_prediction_accuracy(test, pred)")
        done = time.monotonic()
        with screenshot_on_failure(projector, shots, f"row-{user}"):
            expect(projector.locator(f'#rows tr[data-row="{user}"]')).to_be_visible(timeout=2000)
        latency[user] = time.monotonic() - done
        # The efficiency cell (section 12), then the ratios cell: the measured shares (the
        # pupils' sheet) and the correction follow.
        pair.run("efficiency = show_efficiency(val, m.predict(val))")
        pair.run('overview = Overview()\noverview.add_entry("Test (Netz)", pred, overwrite=True)')
    return latency


def test_each_row_appears_live_within_2_s_without_a_reload(worked, projector, tmp_path):
    with screenshot_on_failure(projector, tmp_path, "rows"):
        assert max(worked.values()) < 2.0, worked
        expect(projector.locator("#rows tr")).to_have_count(3)
        assert projector.navigations == [], "the page was reloaded"
        expect(projector.locator("#count")).to_have_text(TEXTS["pairs"].format(count=3))
        for user in PAIRS:
            row = projector.locator(f'#rows tr[data-row="{user}"]')
            expect(row.locator("th")).to_have_text(user)
            # Accuracy, epochs, factors, test events, four shares, four corrected (or why not).
            expect(row.locator("td").nth(2)).to_have_text("1 3 3 3")
            expect(row.locator("td").nth(1)).to_have_text("1")
    print(f"row latency after the accuracy cell: {worked}")


def test_the_rows_hold_what_the_pairs_measured(worked, tutor, stack):
    board = tutor.get("api/board").json()
    assert [row["name"] for row in board["rows"]] == list(PAIRS)
    for row in board["rows"]:
        assert 0.5 < row["accuracy"] <= 1 and row["epochs"] == 1 and row["factors"] == [1, 3, 3, 3]
        assert sum(row["fractions"].values()) == pytest.approx(1, abs=1e-4)
        assert set(row["errors"]) == set("qemt")
        assert row["correction"] in ("done", "impossible")  # a one-epoch network may say only q
        assert sum(row["labelled"].values()) == pytest.approx(1, abs=1e-4)
    summary = board["summary"]
    assert summary["pairs"] == 3 and summary["standard_model"]["q"]["share"] == pytest.approx(
        0.874, abs=1e-3
    )
    assert sum(map(sum, summary["confusion"])) == sum(row["test_events"] for row in board["rows"])


def test_the_charts_render(worked, projector, tmp_path):
    with screenshot_on_failure(projector, tmp_path, "charts"):
        expect(projector.locator("body")).to_have_attribute("data-charts", "7")
        for chart in (
            "chart-q",
            "chart-e",
            "chart-m",
            "chart-t",
            "chart-histogram",
            "chart-epochs",
            "chart-augmentation",
        ):
            canvas = projector.locator(f"#{chart} canvas")
            expect(canvas).to_have_count(1)
            box = canvas.bounding_box()
            assert box and box["width"] > 150 and box["height"] > 100, (chart, box)
        expect(projector.locator("#confusion-table tr")).to_have_count(5)
        errors = [e for e in projector.console.errors if "favicon" not in e]
        assert not errors, errors
        projector.screenshot(path=str(tmp_path / "projector.png"), full_page=True)


def test_freeze_holds_the_board_and_reveal_shows_what_came_since(
    worked, projector, pairs, tutor, tmp_path
):
    row = projector.locator('#rows tr[data-row="pair-01"]')
    with screenshot_on_failure(projector, tmp_path, "freeze"):
        before = row.locator("td").first.text_content()
        projector.get_by_role("button", name=TEXTS["freeze"]).click()
        expect(projector.locator("body")).to_have_attribute("data-frozen", "yes")
        expect(projector.get_by_role("button", name=TEXTS["reveal"])).to_be_visible()
        # pair-01 measures again (on half its test events): stored, but held back.
        pairs["pair-01"].run(
            "calculate_prediction_accuracy(test[: len(test) // 2], pred[: len(pred) // 2])"
        )
        expect(projector.locator("#banner")).to_contain_text(TEXTS["held_back"].format(count=1))
        assert row.locator("td").first.text_content() == before
        assert tutor.get("api/board").json()["held_back"] == 1
        projector.get_by_role("button", name=TEXTS["reveal"]).click()
        expect(projector.locator("body")).to_have_attribute("data-frozen", "no")
        expect(row.locator("td").first).not_to_have_text(before)
        assert projector.navigations == []


def test_names_can_be_hidden_on_the_projector(worked, projector, tmp_path):
    with screenshot_on_failure(projector, tmp_path, "names"):
        projector.get_by_role("button", name=TEXTS["names_hide"]).click()
        expect(projector.locator("body")).to_have_attribute("data-names", "hidden")
        expect(projector.locator("#rows")).not_to_contain_text("pair-")
        projector.get_by_role("button", name=TEXTS["names_show"]).click()
        expect(projector.locator("#rows")).to_contain_text("pair-01")


def test_a_pair_sees_its_own_row_and_no_other_pairs_name(worked, chromium, stack, logins, tmp_path):  # noqa: F811
    page = new_page(chromium)
    try:
        with screenshot_on_failure(page, tmp_path, "pair-view"):
            login(page, stack.url, "pair-02", logins["pair-02"], next_url=BOARD)
            expect(page).to_have_url(re.compile(rf"{BOARD}pair$"))
            expect(page.locator("body")).to_have_attribute("data-state", "live")
            expect(page.locator("#rows tr")).to_have_count(3)
            own = page.locator("#rows tr.own")
            expect(own).to_have_count(1)
            expect(own.locator("th")).to_contain_text("pair-02")
            expect(page.locator("body")).to_have_attribute("data-charts", "7")
            content = page.content()
            assert "pair-01" not in content and "pair-03" not in content
            # The projector is not for pairs.
            response = page.goto(f"{stack.url}{BOARD}projector")
            assert response.status == 403
            expect(page.get_by_role("link", name=TEXTS["no_access_link"])).to_be_visible()
    finally:
        page.context.close()


FORGE = r"""
import json, os, httpx
url = os.environ["MASTERCLASS_RESULTS_URL"] + "api/results"
token = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}
good = {"test_accuracy": 0.9, "test_events": 100, "notebook": "forged"}
forged = {**token, "X-Forwarded-User": "pair-02"}
out = {}
out["forged_headers"] = httpx.post(url, json=good, headers=forged).json()
out["forged_query"] = httpx.post(url + "?user=pair-02", json=good, headers=token).json()
out["for_another"] = httpx.post(url, json={**good, "pair": "pair-02"}, headers=token).status_code
out["no_token"] = httpx.post(url, json=good).status_code
bad_token = {"Authorization": "token forged"}
out["forged_token"] = httpx.post(url, json=good, headers=bad_token).status_code
out["projector"] = httpx.get(url.replace("api/results", "api/board"), headers=token).json()["kind"]
print(json.dumps(out))
"""


def test_identity_comes_only_from_the_servers_token(worked, pairs, stack):
    seen = pairs["pair-01"].in_container(FORGE)
    assert seen["forged_headers"]["pair"] == "pair-01" and seen["forged_query"]["pair"] == "pair-01"
    assert seen["for_another"] == 400
    assert seen["no_token"] == 403 and seen["forged_token"] == 403
    assert seen["projector"] == "pair"
    stored = store(stack, "dump")["pairs"]
    assert stored["pair-01"]["notebook"] == "forged"
    assert stored["pair-02"]["notebook"] == "z-boson"


BAD = [
    ({"test_accuracy": 1.5}, "out of range"),
    ({"test_accuracy": -0.2}, "out of range"),
    ('{"test_accuracy": NaN}', "NaN is not a number"),
    ({"test_accuracy": "0.9"}, "expected a number between 0 and 1"),
    ({"test_accuracy": 0.9, "epochs": 2.5}, "expected a whole number"),
    ({"test_accuracy": 0.9, "epochs": 0}, "out of range"),
    ({"test_accuracy": 0.9, "augmentation_factors": [1, 2]}, "one value per channel"),
    ({"measured_ratios": {"q": 1, "e": 1, "m": 0, "t": 0}}, "add up to"),
    ({"test_confusion": [[1, 2], [3, 4]]}, "4×4"),
    ({"epochs": 3}, "needs at least one of"),
    ("[1, 2]", "must be a JSON object"),
    ("{broken", "not JSON"),
]


def test_each_bad_value_gets_a_400_that_says_why_and_nothing_is_lost(worked, stack, logins):
    _, pair = api_client(stack, "pair-03", logins["pair-03"])
    before = store(stack, "dump")
    for body, says in BAD:
        data = body if isinstance(body, str) else json.dumps(body)
        r = pair.post("api/results", content=data, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert says in r.json()["message"], (body, r.json())
    big = json.dumps({"test_accuracy": 0.9, "padding": "x" * 100_000})
    r = pair.post("api/results", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "bytes, at most" in r.json()["message"]
    assert store(stack, "dump") == before


def test_the_board_and_the_export_agree(worked, stack, tutor):
    board = tutor.get("api/board").json()
    exported = store(stack, "dump")
    assert not board["frozen"]
    shown = {
        row["name"]: {k: v for k, v in row.items() if k not in ("id", "name", "own", "received")}
        for row in board["rows"]
    }
    assert shown == {pair: entry["row"] for pair, entry in exported["pairs"].items()}
    assert board["summary"] == exported["summary"] and board["game"] == exported["game"]
    csv_lines = stack.hub_exec(
        "python", "-m", "masterclass.board.store", "dump", "--csv"
    ).splitlines()
    assert len(csv_lines) == 1 + len(board["rows"])


def test_the_store_and_open_boards_survive_a_hub_restart(worked, stack, tutor, projector, tmp_path):
    before = tutor.get("api/board").json()["rows"]
    stack.docker("restart", stack.hub, timeout=180)
    wait_until(stack.healthy, 180, "the hub after its restart", stack.explain)
    with screenshot_on_failure(projector, tmp_path, "after-restart"):
        # The page noticed, said so, and came back by itself.
        expect(projector.locator("body")).to_have_attribute("data-state", "live", timeout=60_000)
        expect(projector.locator("#rows tr")).to_have_count(len(before))
        assert projector.navigations == []

    def same():
        r = tutor.get("api/board")
        return r.status_code == 200 and r.json()["rows"] == before

    wait_until(same, 60, "the board after the hub's restart", stack.explain)


def test_the_game_posts_its_rounds_and_the_board_tallies_them(worked, pairs, projector, tmp_path):
    code = (
        "from masterclass.board.client import post_round, flush\n"
        "post_round('round-1', events=20, human_right=15, human_seconds=62.0, "
        "machine_right=19, machine_seconds=0.4)\n"
        "flush(10)\n"
    )
    pairs["pair-02"].run(code)
    with screenshot_on_failure(projector, tmp_path, "game"):
        expect(projector.locator("#game-rounds")).to_have_text(
            TEXTS["game_rounds"].format(rounds=1, pairs=1)
        )
        expect(projector.locator('#game-table tr[data-who="humans"]')).to_contain_text("15 / 20")


def test_30_pairs_post_within_5_s_and_3_boards_show_all_of_them(
    stack,
    logins,
    chromium,  # noqa: F811
    tmp_path,
):
    users = {user: logins[user] for user in PAIRS}
    for _ in range(30 - len(users)):
        user, password = stack.add_pair()
        users[user] = password
    clients = {user: api_client(stack, user, password)[1] for user, password in users.items()}
    boards = []
    for _ in range(3):
        page = new_page(chromium)
        login(page, stack.url, "tutor-01", logins["tutor-01"], next_url=f"{BOARD}projector")
        expect(page.locator("body")).to_have_attribute("data-state", "live")
        boards.append(page)
    _, watcher = api_client(stack, "tutor-01", logins["tutor-01"])
    stream = EventStream(watcher, "events")
    body = {
        "notebook": "load",
        "test_accuracy": 0.9,
        "test_events": 10,
        "test_confusion": [[8, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]],
        "epochs": 2,
    }

    def post(user):
        r = clients[user].post("api/results", json=body)
        return user, r.status_code, time.monotonic()

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            posted = list(pool.map(post, clients))
        sending = time.monotonic() - started
        assert all(status == 201 for _, status, _ in posted), posted
        assert sending < 5, f"30 posts took {sending:.1f} s"
        last_post = max(at for _, _, at in posted)
        # Per pair: from the answer to its post to the first event that shows its new row,
        # and the service's own part of it (stored → sent, by the service's clock).
        seen: dict[str, float] = {}
        in_service: dict[str, float] = {}

        def all_seen(event, data) -> bool:
            if event == "board":
                for row in data["rows"]:
                    if row["test_events"] == 10 and row["name"] not in seen:
                        seen[row["name"]] = stream.arrived
                        stored = datetime.fromisoformat(row["received"]).timestamp()
                        in_service[row["name"]] = data["sent"] - stored
            return len(seen) == 30

        stream.wait_for(all_seen, timeout=30)
        delays = sorted(seen[user] - at for user, _, at in posted)
        service = sorted(in_service.values())
        for n, page in enumerate(boards):
            with screenshot_on_failure(page, tmp_path, f"board-{n}"):
                expect(page.locator("#rows tr")).to_have_count(30, timeout=10_000)
        shown = time.monotonic()
        stored = store(stack, "dump")["pairs"]
        assert len(stored) == 30 and all(entry["notebook"] == "load" for entry in stored.values())
        latency = {
            "posts": len(posted),
            "sending_s": round(sending, 2),
            "post_to_event_median_s": round(delays[len(delays) // 2], 3),
            "post_to_event_max_s": round(delays[-1], 3),
            "stored_to_sent_median_s": round(service[len(service) // 2], 3),
            "stored_to_sent_max_s": round(service[-1], 3),
            "three_pages_after_last_post_s": round(shown - last_post, 2),
        }
        print(f"LOAD {json.dumps(latency)}")
        (tmp_path / "load.json").write_text(json.dumps(latency))
    finally:
        stream.close()
        for page in boards:
            page.context.close()


def test_purge_empties_the_store_and_the_open_boards(worked, stack, projector, tutor, tmp_path):
    removed = store(stack, "purge")["removed"]
    assert removed >= 3
    with screenshot_on_failure(projector, tmp_path, "purged"):
        expect(projector.locator("#empty")).to_be_visible(timeout=10_000)
    assert store(stack, "dump")["pairs"] == {}
    assert tutor.get("api/board").json()["rows"] == []
    files = stack.hub_exec("find", "/srv/masterclass/results", "-type", "f").split()
    assert files == [], files
