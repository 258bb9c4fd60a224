"""A class pressing Start: `python bench/classroom_load.py [pages|waits] [--sessions 30] ...`.

`waits`: how long a class waits for a finished result. `--sessions` (30) simulated sessions
press Start on the `classroom` recipe (distill_core/training/recipes/classroom.yaml, the run a
class watches end to end), spread over `--spread` seconds in a fixed shuffled order: all but
`--variants` (6) press the same preset (Hinton classic, alpha 0.9, T 4), and the others pick
one of three variants (alpha 0.5, T 2 or T 8). With `--fresh` every session picks its own
alpha and T instead (30 different settings: alpha 0.1 ... 1.0 by tenths, T 1, 2, 4) and each
press forces its own run: no press attaches to another's, so the queue has 30 runs to train,
and trains the compatible ones waiting together (side by side, one process each group of at
most max_together; store/groups.py). Each press is a real `jobs.launch(config, session=...)`
on a fresh runs root; the queue trains real `distill run` processes, `max_concurrent` at a
time, under the limits docs/hosting.md gives a class server (docs/classroom.toml: one run per
core on one thread each, up to 16 side by side; `--limits none` for this machine's defaults,
`--limits FILE` for another file), and the loop here calls `jobs.pump` every 0.5 s as the
sessions' page polls do. A session's wait is from its press until its run's status says done
(a press that attaches to a finished run waits only for the launch call). It prints each
session's wait, the runs trained and the processes that trained them, then the median, p95 and
max wait, and last the target: every session sees a finished result within 5 minutes.

`pages` (the default): page response times while a class presses Start at once.
Starts `streamlit run app.py` on a loopback port in a fresh runs root, then:

1. idle: a visitor opens the Distill page 30 times, each time as a new browser session over
   Streamlit's own websocket protocol (what a browser sends: one `rerun_script`, answered when
   the script has finished), and each page's response time is recorded.
2. load: `--sessions` students open the Distill page and press Start on a tiny run
   (builtin:teacher -> builtin:tiny, 2 steps of 2 x 32 tokens; each student its own seed, so
   each press queues a run rather than attaching to the first) at the same moment, through
   Streamlit's agent API (`server.enableAgentApi`: the real form and its Start button driven
   over HTTP). Then each student watches their run as a browser does: a websocket session on
   distill?run=ID whose live panel the client reruns every 2 s (`auto_rerun`). Meanwhile the
   visitor keeps opening the Distill page every 0.5 s, timed as in 1, and the health endpoint
   and the number of runs training are sampled; the queue trains `max_concurrent` at a time.
3. The runs left are cancelled and the server is stopped by its PID.

It prints the runs by state (none may be lost or failed), the page times idle and under load,
and last, side by side, their p50 and p95 and the ratios. tests/test_classroom_load.py runs
the same driver at a small scale.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from distill_core.machine import cpu_model  # noqa: E402
from distill_core.store import jobs  # noqa: E402
from distill_core.store.limits import load_limits  # noqa: E402

CLASS_LIMITS = ROOT / "docs" / "classroom.toml"  # `waits`: the limits a class server runs with
TINY_RUN = {"cfg_student": "builtin:tiny", "cfg_steps": 2, "cfg_batch_size": 2,
            "cfg_seq_len": 32, "cfg_warmup": 0, "cfg_eval_every": 0, "cfg_eval_blocks": 2,
            "cfg_train_docs": 100, "cfg_baseline": False}
# As docs/hosting.md says to serve a class: no watching of source files for
# changes (Streamlit otherwise re-checks every imported module, torch's thousands included,
# on its event loop after every script run).
HOSTING_FLAGS = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")
VISIT_SECONDS = 0.5  # how often the visitor opens the page while the class trains
FINISHED, FRAGMENT_FINISHED = 0, 3  # ForwardMsg.ScriptFinishedStatus values that end a run

# `waits`: the run a class trains (the classroom recipe), the preset most of the class presses,
# and the variants a few pick instead (each changes alpha or T).
CLASS_RECIPE = "classroom"
PRESET = ("Hinton classic (alpha 0.9, T 4)", {"alpha": 0.9, "temperature": 4.0})
VARIANTS = (("alpha 0.5", {"alpha": 0.5, "temperature": 4.0}),
            ("T 2", {"alpha": 0.9, "temperature": 2.0}),
            ("T 8", {"alpha": 0.9, "temperature": 8.0}))
TARGET_SECONDS = 300.0  # every session sees a finished result within 5 minutes
POLL_SECONDS = 0.5  # how often the simulated sessions look (and pump, as a page poll does)


# ---------------------------------------------------------------------------------------------
# The server and its sessions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` on 127.0.0.1 with the agent API; stopped by its own PID."""

    def __init__(self, runs: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self.env = {**os.environ, "DISTILL_RUNS_DIR": str(runs), "HF_HUB_OFFLINE": "1",
                    **(env or {})}
        self.proc = None

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
             str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.enableAgentApi", "true", "--browser.gatherUsageStats", "false",
             *HOSTING_FLAGS],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not self.healthy():
            if time.time() > deadline or self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError("streamlit did not start")
            time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_stcore/health", timeout=timeout) as r:
                return r.status == 200
        except OSError:
            return False

    def interact(self, body: dict, timeout: float = 120) -> tuple[dict, float]:
        """One agent API request: (snapshot, seconds it took)."""
        req = urllib.request.Request(self.url + "/_stcore/agent/interact",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(req, timeout=timeout) as r:
            snapshot = json.load(r)
        return snapshot, time.perf_counter() - start


def elements(tree, kinds: tuple[str, ...]) -> list[dict]:
    """Every node of a snapshot's tree whose type is one of `kinds`."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in kinds:
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def problems(snapshot: dict) -> list[str]:
    """The page's st.error texts and exceptions, one string each."""
    return [json.dumps(n.get("props"))[:300]
            for n in elements(snapshot.get("tree"), ("error", "exception"))]


class Student:
    """One browser session that fills the Distill form and presses Start (agent API)."""

    def __init__(self, server: Server):
        self.server = server
        snapshot, self.open_s = server.interact({"page": "distill"})
        self.id = snapshot["session_id"]
        self.run_id, self.errors, self.press_s = None, problems(snapshot), None

    def press_start(self, widget_state: dict) -> None:
        snapshot, self.press_s = self.server.interact(
            {"session_id": self.id, "widget_state": widget_state, "trigger": {"key": "start"}})
        self.errors += problems(snapshot)
        self.run_id = (snapshot.get("query_params") or {}).get("run", [None])[-1]


class Browser:
    """A browser's websocket session: page loads and the live panel's timed reruns."""

    def __init__(self, server: Server):
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(
            server.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=60,
            ping_interval=None))  # a browser sends no pings of its own either
        self.auto = None  # (interval s, fragment id) of the fragment the client reruns
        self.errors = []

    def load(self, page: str = "distill", query: str = "") -> float:
        """Open `page` (a full script run); seconds until the script has finished."""
        msg = BackMsg()
        msg.rerun_script.page_name, msg.rerun_script.query_string = page, query
        return self._send(msg, (FINISHED,))

    def poll(self) -> float | None:
        """Rerun the live panel as the client does every `interval` s; None when none runs."""
        if self.auto is None:
            return None
        msg = BackMsg()
        msg.rerun_script.fragment_id, msg.rerun_script.is_auto_rerun = self.auto[1], True
        return self._send(msg, (FINISHED, FRAGMENT_FINISHED))

    def _send(self, msg: BackMsg, done: tuple[int, ...]) -> float:
        start = time.perf_counter()
        self.ws.send(msg.SerializeToString())
        registered = None  # the timer a full run of the page asks for (none: it stops polling)
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(self.ws.recv(timeout=120))
            kind = fwd.WhichOneof("type")
            if kind == "auto_rerun":
                registered = (fwd.auto_rerun.interval, fwd.auto_rerun.fragment_id)
            elif kind == "stop_auto_rerun":
                self.auto = registered = None
            elif kind == "script_finished" and fwd.script_finished == FINISHED:
                self.auto = registered  # a fragment's own run keeps the timer it had
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                if element.WhichOneof("type") == "exception":
                    self.errors.append(element.exception.message[:300])
                elif element.WhichOneof("type") == "alert" and element.alert.format == 1:
                    self.errors.append(element.alert.body[:300])  # st.error
            if kind == "script_finished" and fwd.script_finished in done:
                return time.perf_counter() - start

    def close(self) -> None:
        self._stack.close()


# ---------------------------------------------------------------------------------------------
# The load


def visit(server: Server) -> tuple[float, list[str]]:
    """A new visitor opens the Distill page: (seconds, its errors)."""
    browser = Browser(server)
    try:
        return browser.load(), browser.errors
    finally:
        browser.close()


def idle_times(server: Server, n: int = 30) -> list[float]:
    visit(server)  # warm: the first run of a page imports what it needs
    return [visit(server)[0] for _ in range(n)]


def class_presses_start(server: Server, sessions: int, widget_state: dict,
                        own_seeds: bool = True) -> list[Student]:
    """`sessions` students open the page, then all press Start at the same moment. With
    `own_seeds`, student i trains seed i, so each press queues its own run (the same settings
    would all attach to the first run: see `waits`)."""
    students = [None] * sessions
    gate = threading.Barrier(sessions)

    def one(i):
        student = Student(server)
        students[i] = student
        gate.wait()
        student.press_start({**widget_state, "cfg_seed": i} if own_seeds else widget_state)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return students


def watch_while_training(server: Server, students: list[Student], root: Path, seconds: float,
                         enough_done: int | None = None) -> dict:
    """For `seconds` (or until `enough_done` runs are done): each student's browser shows their
    run and reruns its live panel when the client would; a visitor opens the page every
    VISIT_SECONDS; the health endpoint and the runs holding a slot are sampled every 0.5 s.
    Every response time is recorded."""
    end = time.time() + seconds
    seen = {"health_failures": 0, "health_checks": 0, "most_busy": 0, "visit_times": [],
            "poll_times": [], "health_times": [], "errors": []}
    lock = threading.Lock()

    def finished() -> bool:
        if time.time() > end:
            return True
        states = [s["state"] for _, s in jobs.statuses(root)]
        return (enough_done is not None and states.count("done") >= enough_done) or all(
            state in ("done", "failed", "cancelled") for state in states)

    def student_loop(student):
        browser = None
        try:
            browser = Browser(server)
            browser.load(query=f"run={student.run_id}")
            while not finished() and browser.auto is not None:
                time.sleep(browser.auto[0])
                seconds = browser.poll()
                with lock:
                    seen["poll_times"].append(seconds)
        except Exception as err:  # noqa: BLE001 - a lost connection is a finding, not a crash
            with lock:
                seen["errors"].append(f"student {student.run_id}: {type(err).__name__}: {err}")
        finally:
            if browser is not None:
                browser.close()
                with lock:
                    seen["errors"] += browser.errors

    def visitor_loop():
        while not finished():
            started = time.time()
            try:
                seconds, errors = visit(server)
            except Exception as err:  # noqa: BLE001
                seconds, errors = None, [f"visitor: {type(err).__name__}: {err}"]
            with lock:
                if seconds is not None:
                    seen["visit_times"].append(seconds)
                seen["errors"] += errors
            time.sleep(max(0.0, VISIT_SECONDS - (time.time() - started)))

    def watch_loop():
        while not finished():
            asked = time.perf_counter()
            ok = server.healthy(timeout=10)
            with lock:
                seen["health_times"].append(time.perf_counter() - asked)
            busy = sum(s["state"] == "running" or (s["state"] == "queued" and bool(s.get("pid")))
                       for _, s in jobs.statuses(root))
            with lock:
                seen["health_checks"] += 1
                seen["health_failures"] += not ok
                seen["most_busy"] = max(seen["most_busy"], busy)
            time.sleep(0.5)

    threads = [threading.Thread(target=student_loop, args=(s,)) for s in students]
    threads += [threading.Thread(target=visitor_loop), threading.Thread(target=watch_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def queue_report(root: Path) -> dict:
    """Runs by state, and whether the ones that have started are exactly the oldest ones."""
    rows = jobs.statuses(root)  # oldest first
    states = [("waiting" if jobs.waiting(s) else s["state"]) for _, s in rows]
    first_waiting = states.index("waiting") if "waiting" in states else len(states)
    return {"runs": len(rows), "ids": [run.id for run, _ in rows],
            "by_state": {k: states.count(k) for k in sorted(set(states))},
            "in_order": all(s == "waiting" for s in states[first_waiting:]),
            "statuses": [s for _, s in rows]}


def stop_all(root: Path, seconds: float = 30) -> None:
    """Cancel every run still waiting or training, and wait for their processes to end."""
    for run, status in jobs.statuses(root):
        if status["state"] in ("queued", "running"):
            jobs.cancel(run.id, root)
    deadline = time.time() + seconds
    while time.time() < deadline:
        alive = [s["pid"] for _, s in jobs.statuses(root) if jobs.pid_alive(s.get("pid"))]
        if not alive:
            return
        time.sleep(0.2)
    for pid in alive:
        os.kill(pid, 9)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


# ---------------------------------------------------------------------------------------------
# `waits`: how long a class waits for a finished result


def class_choices(sessions: int, variants: int, seed: int = 0) -> list[tuple[str, dict]]:
    """(label, settings) per session in the order they press: all but `variants` the preset,
    the others the variants in turn, shuffled with a fixed seed."""
    picks = [PRESET] * (sessions - variants) + [VARIANTS[i % len(VARIANTS)]
                                                  for i in range(variants)]
    random.Random(seed).shuffle(picks)
    return picks


def own_choices(sessions: int, seed: int = 0) -> list[tuple[str, dict]]:
    """(label, settings) per session, every one different: alpha 0.1, 0.2, ... 1.0, then
    the same alphas at the next temperature (T 1, 2, 4, 8, ...), shuffled with a fixed seed."""
    picks = []
    for i in range(sessions):
        alpha, temperature = round(0.1 * (i % 10 + 1), 1), float(2 ** (i // 10))
        picks.append((f"alpha {alpha:g}, T {temperature:g}",
                      {"alpha": alpha, "temperature": temperature}))
    random.Random(seed).shuffle(picks)
    return picks


def class_run(root: Path, settings: dict):
    """The classroom recipe with a session's settings, in runs root `root`."""
    from distill_core.training.recipes import load_recipe

    return load_recipe(CLASS_RECIPE, **settings, runs_dir=str(root))


def class_waits(root: Path, choices: list[tuple[str, dict]], spread: float, fresh: bool = False,
                timeout: float = 1800) -> list[dict]:
    """Each session presses Start at its moment (evenly over `spread` s) through jobs.launch and
    watches its run until done; one row per session: label, run id, attached, wait (s)."""
    sessions = [{"session": f"s{i:02d}", "label": label,
                 "config": class_run(root, settings),
                 "at": i * spread / max(1, len(choices) - 1)} for i, (label, settings)
                in enumerate(choices)]
    start = time.time()
    pressed = []
    while len(pressed) < len(sessions) or any("wait" not in s for s in pressed):
        now = time.time() - start
        assert now < timeout, f"not all finished after {timeout:g} s: {queue_report(root)}"
        for s in sessions[len(pressed):]:
            if s["at"] > now:
                break
            s["pressed"] = time.time()
            run = jobs.launch(s["config"], root, session=s["session"], fresh=fresh)
            s.update(run=run, run_id=run.id, attached=run.attached,
                     answered=time.time() - s["pressed"])
            pressed.append(s)
        jobs.pump(root)  # what each session's page poll does
        for s in pressed:
            if "wait" in s:
                continue
            status = s["run"].status()
            if status.get("state") == "done":
                finished = datetime.fromisoformat(status["finished"]).timestamp()
                s["wait"] = max(finished - s["pressed"], s["answered"])
            elif status.get("state") in ("failed", "cancelled"):
                raise RuntimeError(f"run {s['run_id']} {status['state']}: {status.get('error')}"
                                   f" (see {s['run'].path / 'log.txt'})")
        time.sleep(POLL_SECONDS)
    return [{k: s[k] for k in ("session", "label", "run_id", "attached", "answered", "wait")}
            for s in sessions]


def run_times(root: Path) -> list[dict]:
    """Per run trained: id, seconds from its process's launch to done (start-up included; a
    process that said "running" before its launch was recorded counts from then), seconds it
    spent training (status started -> finished), and the process (pid) that trained it."""
    def stamp(text):
        return datetime.fromisoformat(text).timestamp()

    return [{"id": run.id, "training": stamp(s["finished"]) - stamp(s["started"]),
             "launched_to_done": stamp(s["finished"]) - stamp(s.get("launched") or s["started"]),
             "pid": s.get("pid")}
            for run, s in jobs.statuses(root) if s.get("state") == "done"]


def main_waits(args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    choices = (own_choices(args.sessions) if args.fresh
               else class_choices(args.sessions, args.variants))
    with tempfile.TemporaryDirectory(prefix="classroom-waits-") as tmp:
        root = Path(tmp) / "runs"
        root.mkdir()
        if args.limits != "none":  # what docs/hosting.md has a class server use
            shutil.copyfile(args.limits, root / "classroom.toml")
        limits = load_limits(root)
        mode = ("every session its own alpha and T, every press its own run; max_together="
                f"{limits.max_together}" if args.fresh
                else "a press with the same settings attaches to the run that has them")
        print(f"{cpu_model()}, {os.cpu_count()} CPU cores, "
              f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, load average "
              f"{os.getloadavg()[0]:.2f} before the start; max_concurrent="
              f"{limits.max_concurrent} (limits: {args.limits}); {mode}")
        c = class_run(root, {})
        picked = ("each a different alpha and T" if args.fresh else
                  f"{args.sessions - args.variants} the preset {PRESET[0]}, {args.variants} one "
                  f"of {', '.join(v[0] for v in VARIANTS)}")
        print(f"{args.sessions} sessions press Start over {args.spread:g} s, {picked}; each "
              f"run the {CLASS_RECIPE} recipe: {c.teacher} -> {c.student}, {c.steps} steps of "
              f"{c.batch_size} x {c.seq_len} tokens, baseline {c.baseline}")
        try:
            rows = class_waits(root, choices, args.spread, fresh=args.fresh)
            trained = run_times(root)
        finally:
            stop_all(root)
    for r in rows:
        print(f"  {r['session']}  {r['label']:<32} run {r['run_id']:<28} "
              f"{'attached' if r['attached'] else 'queued  '}  launch {r['answered']:.3f} s  "
              f"wait {r['wait']:6.1f} s")
    spans = [t["launched_to_done"] for t in trained]
    print(f"runs trained: {len(trained)} for {len(rows)} presses "
          f"({sum(r['attached'] for r in rows)} attached); each run, process launch to done: "
          f"median {statistics.median(spans):.1f} s, max {max(spans):.1f} s (training alone: "
          f"median {statistics.median(t['training'] for t in trained):.1f} s)")
    per_process = [sum(t["pid"] == pid for t in trained) for pid in {t["pid"] for t in trained}]
    print(f"training processes: {len(per_process)}, runs each: {sorted(per_process)} "
          "(a process trains compatible waiting runs side by side)")
    for label, group in (("preset", [r for r in rows if r["label"] == PRESET[0]]),
                         ("variants", [r for r in rows if r["label"] != PRESET[0]])):
        if group and not args.fresh:  # --fresh: every session has settings of its own
            waits = [r["wait"] for r in group]
            print(f"wait, {label} ({len(group)} sessions): median "
                  f"{statistics.median(waits):.1f} s, max {max(waits):.1f} s")
    waits = [r["wait"] for r in rows]
    print(f"wait for a finished result, all {len(rows)} sessions: median "
          f"{statistics.median(waits):.1f} s, p95 {p95(waits):.1f} s, max {max(waits):.1f} s "
          "(the page shows it at its next poll, within 2 s)")
    if not args.fresh:
        guess = len(rows) * statistics.median(spans) / limits.max_concurrent
        print(f"without attaching, each of the {len(rows)} presses would queue its own run and "
              f"the last would wait about {guess:.0f} s (an estimate from the median run above, "
              "not measured: `waits --fresh` measures it)")
    met = max(waits) <= TARGET_SECONDS
    print(f"target: all {len(rows)} sessions see a finished result within "
          f"{TARGET_SECONDS / 60:g} minutes on this {os.cpu_count()}-core machine: "
          f"{'met' if met else 'NOT met'} (slowest {max(waits):.1f} s)")


# ---------------------------------------------------------------------------------------------


def main_pages(args) -> None:
    env = {"DISTILL_MAX_QUEUED_PER_SESSION": "3"}
    if args.max_concurrent:
        env["DISTILL_MAX_CONCURRENT"] = str(args.max_concurrent)
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp:
        root = Path(tmp) / "runs"
        root.mkdir()
        os.environ.update({"DISTILL_RUNS_DIR": str(root), **env})
        limits = load_limits(root)
        print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} before the "
              f"start; max_concurrent={limits.max_concurrent}; {args.sessions} sessions watch "
              f"their runs for {args.seconds:g} s")
        with Server(root, env) as server:
            try:
                idle = idle_times(server)
                start = time.time()
                students = class_presses_start(server, args.sessions, TINY_RUN)
                press = [s.press_s for s in students]
                print(f"{args.sessions} Start presses at once, all answered in "
                      f"{time.time() - start:.1f} s (each: median {statistics.median(press):.2f}"
                      f" s, max {max(press):.2f} s)")
                seen = watch_while_training(server, students, root, args.seconds)
                report = queue_report(root)
            finally:
                stop_all(root)
        errors = [e for s in students for e in s.errors] + seen["errors"]
        load, polls = seen["visit_times"], seen["poll_times"]
        print(f"runs: {report['runs']} created for {args.sessions} presses "
              f"({len({s.run_id for s in students if s.run_id})} distinct ids); after "
              f"{args.seconds:g} s: {report['by_state']}; started in queue order: "
              f"{report['in_order']}; most training at once: {seen['most_busy']}")
        print(f"page errors: {len(errors)}; health checks failed: {seen['health_failures']} "
              f"of {seen['health_checks']}; live-panel reruns: {len(polls)}, p95 "
              f"{p95(polls):.3f} s" if len(polls) > 1 else "")
        for label, times in (("idle", idle), ("under load", load)):
            print(f"Distill page, new session, {label}: {len(times)} loads, p50 "
                  f"{statistics.median(times):.3f} s, p95 {p95(times):.3f} s, max "
                  f"{max(times):.3f} s")
        p50s = statistics.median(idle), statistics.median(load)
        p95s = p95(idle), p95(load)
        print(f"ratios: page p50 idle {p50s[0]:.3f} s | under load {p50s[1]:.3f} s = "
              f"{p50s[1] / p50s[0]:.1f}x; page p95 idle {p95s[0]:.3f} s | under load "
              f"{p95s[1]:.3f} s = {p95s[1] / p95s[0]:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", nargs="?", choices=("pages", "waits"), default="pages",
                        help="pages: page times under load (default); waits: how long a class "
                             "waits for a finished result")
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="pages: how long the class watches its runs while the queue trains")
    parser.add_argument("--max-concurrent", type=int, default=None,
                        help="DISTILL_MAX_CONCURRENT (default: this server's own limit)")
    parser.add_argument("--variants", type=int, default=6,
                        help="waits: sessions that change alpha or T instead of the preset")
    parser.add_argument("--spread", type=float, default=30.0,
                        help="waits: seconds over which the class presses Start")
    parser.add_argument("--limits", default=str(CLASS_LIMITS),
                        help="waits: the server's limits file (default: docs/classroom.toml, "
                             "what docs/hosting.md gives a class server); none: this machine's "
                             "defaults. Environment variables still win over it")
    parser.add_argument("--fresh", action="store_true",
                        help="waits: every press forces its own run (no attaching)")
    args = parser.parse_args()
    if args.scenario == "waits":
        if args.max_concurrent:
            os.environ["DISTILL_MAX_CONCURRENT"] = str(args.max_concurrent)
        return main_waits(args)
    main_pages(args)


if __name__ == "__main__":
    main()
