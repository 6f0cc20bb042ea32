"""clapbench report: a self-contained HTML report of real runs, checked as text and in headless chromium.

Three models are run for real on synthesized data: the spectral plugin, which hears the classes, on
esc50 and esc50-actions; the same plugin made worse on purpose (two pairs of classes swapped) on esc50
only; and the tiny HF ClapModel on esc50-actions only. Each lacks a task the other has. Numbers in the report are checked against the result files and against
per-class scores recomputed here by brute force from the per-item files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from layouts_sound import build_esc50_actions

from clapbench.errors import ClapbenchError
from clapbench.results.published import load_published, metric_match, on_main_metric



@pytest.fixture(scope="module")
def results(tmp_path_factory, esc50_dir, tiny_model):
    root = tmp_path_factory.mktemp("report")
    actions = build_esc50_actions(root / "actions")
    out = root / "results"
    data = ["--data", f"esc50={esc50_dir}", "--data", f"esc50-actions={actions.data}"]
    for model, model_id, tasks in [
        ("plugins_spectral:spectral_model", "spectral", "esc50,esc50-actions"),
        ("plugins_spectral:spectral_model_worse", "spectral-worse", "esc50"),
        (tiny_model, "tiny", "esc50-actions"),
    ]:
        res = run_cli("run", "--model", model, "--model-id", model_id, "--tasks", tasks, *data, "--output", out, "--workers", "0", "--bootstrap", "200")
        assert res.exit_code == 0, res.output
    return out


def _load(out: Path) -> dict[tuple[str, str], dict]:
    runs = {}
    for path in out.glob("*/*.json"):
        r = json.loads(path.read_text())
        runs[(r["model"]["id"], r["task"])] = r
    return runs


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    res = run_cli("report", results, "-o", path, "--published")
    assert res.exit_code == 0, res.output
    return path, path.read_text()


class Tables(HTMLParser):
    """Text of every table cell, by table id: rows of (the row's tbody class, [cell texts])."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self._table = self._body = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"table-{len(self.tables)}", [])
        elif tag in ("thead", "tbody"):
            self._body = a.get("class") or tag
        elif tag == "tr" and self._table is not None:
            self._table.append((self._body, []))
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1][1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _leaderboard(text: str) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """(task/mean column labels, measured rows by model, reported rows by model) of the leaderboard."""
    rows = Tables(text).tables["leaderboard"]
    head = [r for body, r in rows if body == "thead"]
    # Second header row: tasks and domain means under the domain groups; first row: model, groups, mean.
    labels = ["model"] + head[1] + ["mean"]
    measured = {r[0]: r for body, r in rows if body == "measured"}
    reported = {r[0]: r for body, r in rows if body == "reported"}
    return labels, measured, reported


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _ci_text(result: dict) -> str:
    lo, hi = result["ci95"][result["main_metric"]]
    return f"{100 * lo:.1f}–{100 * hi:.1f}"


def test_report_is_self_contained(report):
    _, text = report
    # Nothing is fetched: no external script, style, image or link target; styles and script are inline.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", text, re.I)
    assert "<link" not in text and "<script src" not in text
    assert "<style>" in text and "<script>" in text
    assert text.count("<svg") >= 4  # two score charts, per-class chart, confusion matrix


def _flag(run: dict) -> str:
    return "S" if run["subset"]["is_subset"] else ""


def test_leaderboard_rows_scores_and_flags(report, results):
    _, text = report
    runs = _load(results)
    labels, measured, reported = _leaderboard(text)
    assert sorted(measured) == ["spectral", "spectral-worse", "tiny"]
    assert labels == ["model", "esc50-actions", "mean", "esc50", "mean", "mean"]  # domains: actions, sound-events
    for model, row in measured.items():
        esc, act = runs.get((model, "esc50")), runs.get((model, "esc50-actions"))
        # a task's cell: the score, its S flag (the fixtures are toy copies: subsets), then its 95% interval
        # (printed pages have no hover)
        assert row[3] == (_pct(esc["main_score"]) + _flag(esc) + _ci_text(esc) if esc else "missing")
        assert row[1] == (_pct(act["main_score"]) + _flag(act) + _ci_text(act) if act else "missing")
        have = [r["main_score"] for r in (esc, act) if r]
        overall = _pct(sum(have) / len(have))
        # a model missing a task has its overall mean marked incomplete; a mean over subsets says so
        subsets = ", ".join(t for t, r in (("esc50", esc), ("esc50-actions", act)) if r and r["subset"]["is_subset"])
        assert row[5] == overall + ("" if len(have) == 2 else "*") + ("S" if subsets else "")
    # a domain mean of a model without the domain's task is missing
    assert measured["spectral-worse"][2] == "missing" and measured["tiny"][4] == "missing"
    # the spectral plugin hears the classes; swapping two pairs of its classes makes it worse
    assert runs[("spectral", "esc50")]["main_score"] > 0.6 > runs[("spectral-worse", "esc50")]["main_score"]
    # published numbers are extra rows, marked, with no mean
    esc50_reported = {p.model: p for p in load_published() if p.task == "esc50" and p.metric == "accuracy"}
    for model, p in esc50_reported.items():
        row = next(r for name, r in reported.items() if name.startswith(model))
        # a number the literature says was obtained on test data it trained or selected on is flagged
        assert row[3] == _pct(p.value) + ("contaminated" if p.contamination else "") and row[5] == "—"
        assert re.search(r"(reported|reproduction)$", row[0])


def test_published_rows_never_enter_measured_means(report, results, tmp_path):
    path = tmp_path / "plain.html"
    assert run_cli("report", results, "-o", path).exit_code == 0
    _, measured_plain, reported_plain = _leaderboard(path.read_text())
    _, measured, reported = _leaderboard(report[1])
    assert measured == measured_plain
    assert reported and not reported_plain


def test_score_cards_show_each_runs_interval(report, results):
    _, text = report
    cards = [rows for rows in Tables(text).tables.values() if rows and rows[0][1][:3] == ["model", "score", "95% CI"]]
    assert len(cards) == 2  # a card per task
    lines = [" ".join(r) for card in cards for _, r in card[1:]]
    for (model, task), r in _load(results).items():
        lo, hi = r["ci95"][r["main_metric"]]
        assert lo <= r["main_score"] <= hi
        folds = ", ".join(map(str, r["folds"]))
        mark = f" subset {r['n_items']}/2000" if r["subset"]["is_subset"] else ""
        assert f"{model}{mark} {_pct(r['main_score'])} [{_pct(lo)}, {_pct(hi)}] {r['n_items']} {folds}" in lines


def test_per_class_accuracy_and_confusion_of_the_top_model(report, results):
    _, text = report
    runs = _load(results)
    # default task: the first single-label classification task (esc50), not the multi-label one
    table = Tables(text).tables["per-class-table"]
    header = table[0][1]
    assert header[:2] == ["class", "clips"]
    classes = runs[("spectral", "esc50")]["classes"]
    by_class = {r[0]: r for _, r in table[1:]}
    # classes as prompts name them, not the dataset's spelling
    assert list(by_class) == [c.replace("_", " ") for c in classes] == runs[("spectral", "esc50")]["protocol"]["class_prompt_names"]
    for model in ("spectral", "spectral-worse"):
        items = np.load(results / model / "esc50.items.npz")
        col = header.index(model)
        for c, name in enumerate(list(by_class)):
            mine = [i for i in range(len(items["y"])) if items["y"][i] == c]
            right = sum(int(np.argmax(items["scores"][i])) == c for i in mine)
            assert by_class[name][col] == _pct(right / len(mine))
            assert by_class[name][1] == str(len(mine))
    top = max((r["main_score"], m) for (m, t), r in runs.items() if t == "esc50")[1]
    assert top == "spectral"
    assert f"Confusion matrix of {top}, the top model on esc50" in text


def _brute_force_ap(y: np.ndarray, s: np.ndarray) -> float:
    """Mean over positives of the precision among clips scoring at least as high (ties count together)."""
    return float(np.mean([(y[s >= s[i]] == 1).sum() / (s >= s[i]).sum() for i in np.flatnonzero(y)]))


def test_multilabel_task_shows_per_class_ap(results, tmp_path):
    path = tmp_path / "actions.html"
    res = run_cli("report", results, "-o", path, "--task", "esc50-actions")
    assert res.exit_code == 0, res.output
    text = path.read_text()
    table = Tables(text).tables["per-class-table"]
    header = table[0][1]
    assert header[:2] == ["class", "positives"] and set(header[2:]) == {"spectral", "tiny"}
    classes = _load(results)[("spectral", "esc50-actions")]["classes"]
    for model in ("spectral", "tiny"):
        items = np.load(results / model / "esc50-actions.items.npz")
        col = header.index(model)
        for c, (_, row) in enumerate(table[1:]):
            assert row[0] == classes[c]
            y = items["y"][:, c]
            assert row[1] == str(int(y.sum()))
            assert row[col] == (_pct(_brute_force_ap(y, items["scores"][:, c])) if y.any() else "—")
    assert "Confusion matrix" not in text and "no confusion matrix" in text


def test_provenance_per_model(report, results):
    _, text = report
    blocks = dict(re.findall(r'<details class="provenance" data-model="([^"]+)">(.*?)</details>', text, re.S))
    assert sorted(blocks) == ["spectral", "spectral-worse", "tiny"]
    for (model, task), r in _load(results).items():
        block = blocks[model]
        for value in (r["model_sha"], r["protocol"]["template_sha"], r["created"], r["versions"]["torch"], r["task_version"]):
            assert value in block, (model, task, value)
    tiny = blocks["tiny"]
    for label in ("sample rate (Hz)", "clip length (s)", "padding", "truncation", "templates", "device", "dtype", "batch size"):
        assert f">{label}<" in tiny
    assert "48000" in tiny and "repeatpad" in tiny


def test_bad_report_requests_exit_2(results, tmp_path):
    res = run_cli("report", results, "-o", tmp_path / "r.html", "--task", "gtzan-genres")
    assert res.exit_code == 2 and "--task gtzan-genres: not in the results; tasks found: esc50-actions, esc50" in res.output
    assert not (tmp_path / "r.html").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("report", empty, "-o", tmp_path / "r.html")
    assert res.exit_code == 2 and "no result files" in res.output


def test_runs_without_per_item_files(results, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    (copy / "spectral-worse" / "esc50.items.npz").unlink()  # as a result from an older clapbench
    res = run_cli("report", copy, "-o", tmp_path / "r.html")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r.html").read_text()
    assert "Left out: spectral-worse (no per-item file)." in text
    assert Tables(text).tables["per-class-table"][0][1] == ["class", "clips", "spectral"]
    (copy / "spectral" / "esc50.items.npz").unlink()
    res = run_cli("report", copy, "-o", tmp_path / "r.html", "--task", "esc50")
    assert res.exit_code == 2 and "--task esc50: no per-item file of a classification task (esc50.items.npz)" in res.output
    assert "tasks that have one: esc50-actions" in res.output


# --- published numbers -----------------------------------------------------------------------


def test_published_numbers_load_and_match_main_metrics():
    rows = load_published()
    assert rows and all(0 <= p.value <= 1 and p.kind in ("reported", "reproduction") and p.source for p in rows)
    esc = {(p.model, p.value) for p in rows if p.task == "esc50"}
    assert ("MS-CLAP 2023", 0.939) in esc
    assert metric_match("accuracy", "accuracy") == ""
    assert "f1_micro" in metric_match("f1", "f1_micro") and metric_match("f1", "mAP") is None
    kept = on_main_metric(rows, {"dcase17-task4": "f1_micro", "audiocaps": "t2a/R@1"})
    assert {(p.task, p.metric) for p in kept} == {("dcase17-task4", "f1_micro"), ("audiocaps", "t2a/R@1")}
    dcase = [p for p in kept if p.task == "dcase17-task4"]
    assert {p.value for p in dcase} == {0.466, 0.30} and all("without its averaging" in p.note for p in dcase)


def test_published_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "published.csv"
    bad.write_text("model,family,task,metric,value,kind,source,note\nX,x,esc50,accuracy,93.9,reported,paper,\n")
    with pytest.raises(ClapbenchError, match=r"published.csv, line 2: value 93.9 is outside \[0, 1\]"):
        load_published(bad)
    bad.write_text("model,task,value\nX,esc50,0.9\n")
    with pytest.raises(ClapbenchError, match="published.csv: missing column"):
        load_published(bad)


# --- the page in a real browser ----------------------------------------------------------------


class Chromium:
    """Headless chromium driven over the Chrome DevTools Protocol (a websocket per page)."""

    def __init__(self, binary: str, profile: Path):
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit {self.proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy
        deadline = time.monotonic() + 30
        while True:
            targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"], max_size=None, proxy=None, open_timeout=30))
        self.events: list[dict] = []
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str):
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=30)))

    def js(self, expression: str):
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def click(self, selector: str):
        """A real mouse click at the middle of the element (as a user would, not element.click())."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
                      " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out.append(json.dumps(p.get("args"))[:500])
            elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append(p["entry"].get("text", ""))
        return out

    def close(self):
        try:
            self._stack.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium on this machine: install Debian's chromium (apt-get install -y chromium); .ci/run does so when it runs as root")


def test_report_in_headless_chromium(report, results, tmp_path):
    binary = _chromium()
    pytest.importorskip("websockets", reason="the browser test drives chromium with the websockets package (pip install -e '.[test]')")
    path, _ = report
    runs = _load(results)
    browser = Chromium(binary, tmp_path / "profile")
    try:
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.call(f"{domain}.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=path.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")

        def order(body: str) -> list[str]:
            return browser.js(f"[...document.querySelectorAll('#leaderboard tbody.{body} th[scope=row]')].map(e => e.dataset.value)")

        measured = order("measured")
        assert sorted(measured) == ["spectral", "spectral-worse", "tiny"]  # a row per model
        reported = order("reported")
        assert len(reported) == len({p.model for p in load_published() if p.task in ("esc50", "esc50-actions")})

        # Sorting by esc50-actions: highest first, a model without the task last; again: lowest first, still last.
        def expected(task, reverse):
            have = sorted((m for m in measured if (m, task) in runs), key=lambda m: runs[(m, task)]["main_score"], reverse=reverse)
            return have + [m for m in measured if (m, task) not in runs]

        header = 'th[data-key="actions/esc50-actions"]'
        browser.click(header)
        descending = order("measured")
        assert descending == expected("esc50-actions", True)
        assert browser.js(f"document.querySelector('{header}').getAttribute('aria-sort')") == "descending"
        browser.click(header)
        ascending = order("measured")
        assert ascending == expected("esc50-actions", False) and ascending != descending
        browser.click('th[data-key="model"]')
        assert order("measured") == sorted(measured)
        # Reported rows are sorted among themselves and stay in their own body.
        browser.click('th[data-key="sound-events/esc50"]')
        published = {p.model: p.value for p in load_published() if p.task == "esc50" and p.metric == "accuracy"}
        assert order("reported")[: len(published)] == sorted(published, key=published.get, reverse=True)
        assert order("measured") == expected("esc50", True)

        # Provenance opens on a click and shows the checkpoint hash.
        browser.click('details[data-model="spectral"] > summary')
        assert browser.js("document.querySelector('details[data-model=\"spectral\"]').open") is True
        assert runs[("spectral", "esc50")]["model_sha"] in browser.js("document.querySelector('details[data-model=\"spectral\"]').innerText")
        browser.click('th[data-key="mean"]')

        assert browser.js("window.__errors") == []
        assert browser.errors() == []
        # the page asked for nothing but itself and data: URIs inside it (the raster parts of the SVG plots)
        requested = {e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"}
        assert {u for u in requested if not u.startswith("data:")} == {path.resolve().as_uri()}
        # the capture is not blind: an error the page logs is seen
        browser.js("console.error('probe')")
        browser.call("Runtime.evaluate", expression="1")
        assert any("probe" in e for e in browser.errors())

        size = browser.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
    finally:
        browser.close()
    import base64

    png = path.with_suffix(".png")  # beside the report, under the test's tmp_path: pytest -s prints where
    png.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {png}")
    from matplotlib.image import imread

    pixels = imread(png)
    assert pixels.shape[1] == int(size["width"]) and pixels.shape[0] > 1500 and pixels.std() > 0.05  # the whole page, not blank
