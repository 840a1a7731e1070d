"""The classroom server under load, at the protocol level: N sessions speak Streamlit's own
websocket protocol (BackMsg / ForwardMsg protobufs on /_stcore/stream, as its browser client does),
so 30 "laptops" cost the machine a websocket each, not 30 browsers on the same 2 cores.

    python benchmarks/classroom_load.py --sessions 8            # distinct scenarios, 5 slider moves each
    python benchmarks/classroom_load.py --same-preset 30        # one heavy link for all, plus a light user
    python benchmarks/classroom_load.py --configs 300           # one session, RSS growth over configurations

Each mode starts its own server (app.py on 127.0.0.1, its own cache folder) unless --url names
one already running; only loopback addresses are accepted. Every session is bounded in count and
in time (--timeout per run). Reported (JSON on stdout, a summary on stderr):

- exceptions: exception elements (and error boxes) any session received;
- cards: each run's Accuracy card against compression.pipeline.evaluate for the same scenario
  (the CLI's numbers), formatted as the card formats them;
- first numbers: seconds from a session's connect to its first Accuracy card (median, max);
- slider run: seconds from sending a slider move to the end of that run (median, max);
- server RSS (the server and its children) at the end and at its peak.

Targets (issue 15, a 2-core server): 30 sessions, 0 exceptions, first numbers median <= 15 s and
max <= 25 s, slider run median <= 10 s, RSS <= 1.5 GB. Timings depend on what else the
machine runs: the load average is in the output.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

FINISHED = {0: "ok", 1: "compile error", 2: "rerun", 3: "fragment"}  # ScriptFinishedStatus
LIGHT_MODELS = ("mlp-digits", "cnn-digits", "mlp-small-digits", "lenet300-mnist", "mlp30-mnist")
BITS = (2, 3, 4, 5, 6, 8)


@dataclass
class Run:
    """One script run as the client saw it."""
    started: float
    first_card: float | None = None
    finished: float | None = None
    status: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    progress: int = 0  # progress-bar deltas seen (waiting with progress)


class Session:
    """One browser tab: a websocket, the widgets it was sent, the runs it saw."""

    def __init__(self, url: str, query: str) -> None:
        self.ws_url = url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        self.origin = url.rstrip("/")
        self.query = query
        self.page_hash = ""
        self.widgets: dict[str, tuple[str, Any]] = {}  # label -> (widget id, proto)
        self.runs: list[Run] = []
        self.ws: Any = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.origin,
                                           max_size=None, open_timeout=60, ping_interval=None)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def rerun(self, states: list[WidgetState] | None = None, timeout: float = 300) -> Run:
        """Send a rerun (the first one: the page load) and read until the run has finished."""
        client = ClientState(query_string=self.query, page_script_hash=self.page_hash,
                             widget_states=WidgetStates(widgets=states or []))
        run = Run(started=time.monotonic())
        self.runs.append(run)
        await self.ws.send(BackMsg(rerun_script=client).SerializeToString())
        deadline = run.started + timeout
        while run.finished is None:
            left = deadline - time.monotonic()
            if left <= 0:
                run.status = "timeout"
                break
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                run.status = "timeout"
                break
            self._read(ForwardMsg.FromString(raw), run)
        return run

    def _read(self, msg: ForwardMsg, run: Run) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string  # the app writes the scenario into the URL
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            what = el.WhichOneof("type")
            if what == "metric":
                run.metrics.setdefault(el.metric.label, el.metric.body)
                if el.metric.label.startswith("Accuracy") and run.first_card is None:
                    run.first_card = time.monotonic()
            elif what == "exception":
                run.exceptions.append(f"{el.exception.type}: {el.exception.message}"[:300])
            elif what == "alert" and el.alert.format == 1:  # ERROR
                run.errors.append(el.alert.body[:300])
            elif what == "progress":
                run.progress += 1
            elif what in ("slider", "select_slider", "selectbox", "button", "number_input", "radio", "checkbox"):
                proto = getattr(el, what)
                self.widgets[proto.label] = (proto.id, proto)
        elif kind == "script_finished":
            status = FINISHED.get(msg.script_finished, str(msg.script_finished))
            if status != "rerun":  # a run cut short for the next one: keep reading
                run.status, run.finished = status, time.monotonic()

    def slider_state(self, label: str, value: float) -> WidgetState:
        wid, _ = self.widgets[label]
        state = WidgetState(id=wid)
        state.double_array_value.data.append(value)
        return state

    def button_state(self, label: str) -> WidgetState:
        wid, _ = self.widgets[label]
        return WidgetState(id=wid, trigger_value=True)


# ----------------------------------------------------------------------------- the server

def check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(f"classroom_load: {url} is not a loopback address: this load test only runs against "
                         "a server on this machine (127.0.0.1)")


def server_rss(pid: int) -> int:
    """Resident bytes of the server process and its children (worker processes), summed."""
    return server_memory(pid)["rss"]


def server_memory(pid: int) -> dict[str, int]:
    """The server and its children: RSS summed, and PSS summed (each shared page divided among the
    processes mapping it: what they take from the machine together; summed RSS counts the libraries
    a worker shares with the server, torch's ~500 MB among them, once per process)."""
    import psutil
    out = {"rss": 0, "pss": 0, "processes": 0}
    try:
        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:
            try:
                info = p.memory_full_info()
            except psutil.Error:
                continue
            out["rss"] += info.rss
            out["pss"] += getattr(info, "pss", info.rss)
            out["processes"] += 1
    except psutil.Error:
        pass
    return out


def server_cpu(pid: int | None) -> dict[str, float]:
    """CPU seconds (user + system) so far: the server process itself, and its children (workers)."""
    import psutil
    out = {"server": 0.0, "children": 0.0}
    if not pid:
        return out
    try:
        proc = psutil.Process(pid)
        t = proc.cpu_times()
        out["server"] = t.user + t.system
        for c in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                ct = c.cpu_times()
                out["children"] += ct.user + ct.system
    except psutil.Error:
        pass
    return out


def cpu_per_run(before: dict[str, float], after: dict[str, float], runs: int) -> dict[str, float]:
    """CPU seconds per script run, in the server process and in its workers. The server's share is
    what its GIL serializes: on an otherwise idle machine with 2 cores the runs cannot go faster
    than one per max(server, (server + workers) / 2) seconds, whatever else loads this machine."""
    server = (after["server"] - before["server"]) / max(1, runs)
    workers = (after["children"] - before["children"]) / max(1, runs)
    return {"server_s": round(server, 3), "workers_s": round(workers, 3),
            "bound_s_per_run_on_2_idle_cores": round(max(server, (server + workers) / 2), 3)}


class RssSampler:
    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak, self.peak_pss, self.samples = pid, 0, 0, []

    async def run(self) -> None:
        while self.pid:
            mem = await asyncio.to_thread(server_memory, self.pid)
            self.peak = max(self.peak, mem["rss"])
            self.peak_pss = max(self.peak_pss, mem["pss"])
            self.samples.append(mem["rss"])
            await asyncio.sleep(0.5)

    def summary(self) -> dict[str, int]:
        end = server_memory(self.pid) if self.pid else {"rss": 0, "pss": 0, "processes": 0}
        return {"end": round(end["rss"] / 2**20), "peak": round(self.peak / 2**20),
                "pss_end": round(end["pss"] / 2**20), "pss_peak": round(self.peak_pss / 2**20),
                "processes": end["processes"]}


@contextlib.contextmanager
def served(args: argparse.Namespace):
    """(url, pid) of the server to load: the given one, or app.py started here."""
    if args.url:
        check_loopback(args.url)
        yield args.url, args.server_pid
        return
    import browserlib
    cache = args.cache or tempfile.mkdtemp(prefix="classroom-cache-")
    proc, url = browserlib.start_streamlit(browserlib.PROJECT_APP, port=args.port,
                                           env={"COMPRESSION_LAB_CACHE": cache, "OMP_NUM_THREADS": "1",
                                                **({} if args.workers is None
                                                   else {"COMPRESSION_LAB_WORKERS": str(args.workers)})},
                                           timeout=180)
    try:
        yield url, proc.pid
    finally:
        browserlib.stop_streamlit(proc)
        # the server's tracebacks (a page shows one sentence; the log keeps the cause)
        log = Path(getattr(proc, "log_path", "") or "/nonexistent")
        if log.is_file():
            text = log.read_text(errors="replace")
            for block in re.findall(r"Traceback \(most recent call last\):.*?\n\S[^\n]*", text, re.S)[:3]:
                print(block[-3000:], file=sys.stderr)


# ----------------------------------------------------------------------------- the numbers

def scenarios(n: int) -> list[tuple[str, float, int]]:
    """n distinct light scenarios (model, sparsity, bits): no fine-tuning, so no Run button."""
    out = []
    i = 0
    while len(out) < n:
        model = LIGHT_MODELS[i % len(LIGHT_MODELS)]
        sparsity = (10 + 7 * (i // len(LIGHT_MODELS)) + 3 * (i % len(LIGHT_MODELS))) % 90
        out.append((model, sparsity / 100, BITS[i % len(BITS)]))
        i += 1
    return out


def query_of(model: str, sparsity: float, bits: int) -> str:
    return urllib.parse.urlencode({"model": model, "sparsity": f"{sparsity:g}", "bits": bits})


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def card_matches(card: str, accuracy: float | None) -> bool:
    """Whether an Accuracy card ('93.8 %') shows `accuracy` at the card's own precision."""
    found = _NUMBER.search(card or "")
    if accuracy is None or not found:
        return accuracy is None and "n/a" in (card or "")
    text = found.group(0)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return round(accuracy * 100, decimals) == float(text)


def reference_accuracy(model: str, sparsity: float, bits: int) -> float | None:
    from compression import pipeline
    from compression.config import CompressionConfig
    return pipeline.evaluate(model, CompressionConfig(sparsity=sparsity, bits=bits), latency=False).accuracy


def summary(values: list[float]) -> dict[str, float | None]:
    return {"median": round(statistics.median(values), 2) if values else None,
            "max": round(max(values), 2) if values else None, "n": len(values)}


# ----------------------------------------------------------------------------- the modes

async def one_student(url: str, scenario: tuple[str, float, int], moves: int, timeout: float,
                      results: list[dict[str, Any]]) -> None:
    model, sparsity, bits = scenario
    s = Session(url, query_of(model, sparsity, bits))
    record: dict[str, Any] = {"scenario": scenario, "runs": []}
    results.append(record)
    t0 = time.monotonic()
    try:
        await s.connect()
        first = await s.rerun(timeout=timeout)
        record["first_numbers_s"] = first.first_card - t0 if first.first_card else None
        record["runs"].append((sparsity, first))
        value = round(sparsity * 100)
        for _ in range(moves):
            if "Sparsity" not in s.widgets or first.status == "timeout":
                break
            value = value + 1 if value < 99 else value - 1
            run = await s.rerun([s.slider_state("Sparsity", value)], timeout=timeout)
            record["runs"].append((value / 100, run))
            if run.status == "timeout":
                break
    except Exception as e:  # the client's own failure is reported, not raised
        record["client_error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        await s.close()


async def teacher_first(args: argparse.Namespace, url: str) -> float | None:
    """The teacher's tab opens first (unless --cold): imports, the model list, the data and the
    worker processes are loaded before the class arrives. Seconds it took."""
    if args.cold:
        return None
    t0 = time.monotonic()
    teacher = Session(url, "")
    await teacher.connect()
    await teacher.rerun(timeout=args.timeout)
    await teacher.close()
    return round(time.monotonic() - t0, 1)


async def distinct(args: argparse.Namespace, url: str, pid: int | None) -> dict[str, Any]:
    warmup = await teacher_first(args, url)
    sampler = RssSampler(pid)
    rss_task = asyncio.create_task(sampler.run())
    results: list[dict[str, Any]] = []
    picked = scenarios(args.sessions)
    cpu0 = server_cpu(pid)
    start = time.monotonic()
    await asyncio.gather(*(one_student(url, sc, args.moves, args.timeout, results) for sc in picked))
    wall = time.monotonic() - start
    cpu1 = server_cpu(pid)
    memory = sampler.summary()
    rss_task.cancel()
    # the cards against the library's numbers (computed after the load, not during it)
    checked, wrong = 0, []
    cache: dict[tuple, float | None] = {}
    for r in results:
        model, _, bits = r["scenario"]
        for sparsity, run in r["runs"]:
            card = next((v for k, v in run.metrics.items() if k.startswith("Accuracy")), None)
            if card is None:
                continue
            key = (model, round(sparsity, 2), bits)
            if key not in cache:
                cache[key] = reference_accuracy(*key)
            checked += 1
            if not card_matches(card, cache[key]):
                wrong.append({"scenario": key, "card": card, "reference": cache[key]})
    runs = [run for r in results for _, run in r["runs"]]
    slider = [run.finished - run.started for r in results for _, run in r["runs"][1:] if run.finished]
    first = [r["first_numbers_s"] for r in results if r.get("first_numbers_s") is not None]
    return {
        "mode": "distinct", "sessions": args.sessions, "moves": args.moves, "wall_s": round(wall, 1),
        "warmup_s": warmup,
        "exceptions": sum(len(run.exceptions) for run in runs),
        "exception_texts": sorted({t for run in runs for t in run.exceptions})[:5],
        "error_boxes": sum(len(run.errors) for run in runs),
        "error_texts": sorted({t for run in runs for t in run.errors})[:5],
        "error_scenarios": sorted({(r["scenario"][0], sparsity, r["scenario"][2])
                                   for r in results for sparsity, run in r["runs"] if run.errors}),
        "timeouts": sum(run.status == "timeout" for run in runs),
        "runs": len(runs), "runs_without_numbers": sum(run.first_card is None for run in runs),
        "not_finished_ok": sorted({run.status or "none" for run in runs} - {"ok"}),
        "client_errors": [r["client_error"] for r in results if "client_error" in r][:5],
        "cards_checked": checked, "cards_wrong": wrong[:10],
        "first_numbers_s": summary(first), "slider_run_s": summary(slider),
        "rss_mb": memory,
        "cpu_per_run": cpu_per_run(cpu0, cpu1, len(runs)),
    }


async def same_preset(args: argparse.Namespace, url: str, pid: int | None) -> dict[str, Any]:
    """N sessions open the same heavy link and press Run at once; a light user arrives meanwhile."""
    warmup = await teacher_first(args, url)
    sampler = RssSampler(pid)
    rss_task = asyncio.create_task(sampler.run())
    query = urllib.parse.urlencode({"model": "mlp-digits", "preset": "deep-compression"})
    results: list[dict[str, Any]] = []

    async def heavy() -> None:
        s = Session(url, query)
        rec: dict[str, Any] = {}
        results.append(rec)
        try:
            await s.connect()
            await s.rerun(timeout=args.timeout)
            run_label = next((label for label in s.widgets if label.startswith("Run")), None)
            if run_label is None:
                rec["no_run_button"] = True
                run = s.runs[-1]
            else:
                run = await s.rerun([s.button_state(run_label)], timeout=args.timeout)
            rec.update(seconds=(run.finished or time.monotonic()) - run.started, progress=run.progress,
                       exceptions=run.exceptions, status=run.status,
                       card=next((v for k, v in run.metrics.items() if k.startswith("Accuracy")), None))
        except Exception as e:
            rec["client_error"] = f"{type(e).__name__}: {e}"[:300]
        finally:
            await s.close()

    async def light() -> dict[str, Any]:
        await asyncio.sleep(2)  # arrive while the heavy work runs
        s = Session(url, query_of("mlp-small-digits", 0.3, 8))
        t0 = time.monotonic()
        try:
            await s.connect()
            run = await s.rerun(timeout=args.timeout)
            return {"first_numbers_s": (run.first_card or time.monotonic()) - t0, "exceptions": run.exceptions}
        finally:
            await s.close()

    start = time.monotonic()
    light_task = asyncio.create_task(light())
    await asyncio.gather(*(heavy() for _ in range(args.same_preset)))
    light_result = await light_task
    rss_task.cancel()
    secs = [r["seconds"] for r in results if "seconds" in r]
    return {"mode": "same-preset", "sessions": args.same_preset, "wall_s": round(time.monotonic() - start, 1),
            "warmup_s": warmup,
            "heavy_run_s": summary(secs),
            "with_progress": sum(r.get("progress", 0) > 0 for r in results),
            "exceptions": sum(len(r.get("exceptions", [])) for r in results) + len(light_result["exceptions"]),
            "cards": sorted({r.get("card") or "none" for r in results}),
            "client_errors": [r["client_error"] for r in results if "client_error" in r][:5],
            "light_user_first_numbers_s": round(light_result["first_numbers_s"], 2),
            "rss_mb": sampler.summary()}


async def many_configs(args: argparse.Namespace, url: str, pid: int | None) -> dict[str, Any]:
    """One session steps through `--configs` configurations: the server's RSS must level off."""
    s = Session(url, query_of("mlp-digits", 0.0, 8))
    await s.connect()
    rss: list[int] = []
    pss: list[int] = []
    exceptions = 0
    texts: set[str] = set()
    try:
        await s.rerun(timeout=args.timeout)
        for i in range(args.configs):
            states = [s.slider_state("Sparsity", i % 100)]
            if i % 100 == 99 and "Weight bits" in s.widgets:  # a new bit-width every 100 steps
                wid, proto = s.widgets["Weight bits"]
                st_ = WidgetState(id=wid)
                st_.string_array_value.data.append(proto.options[(i // 100) % len(proto.options)])  # formatted, as the browser sends
                states.append(st_)
            run = await s.rerun(states, timeout=args.timeout)
            exceptions += len(run.exceptions)
            texts.update(f"config {i}: {t}" for t in run.exceptions)
            if i % 25 == 0 or i == args.configs - 1:
                mem = server_memory(pid) if pid else {"rss": 0, "pss": 0}
                rss.append(mem["rss"])
                pss.append(mem["pss"])
    finally:
        await s.close()
    mb = [round(r / 2**20) for r in rss]
    return {"mode": "configs", "configs": args.configs, "exceptions": exceptions,
            "exception_texts": sorted(texts)[:5], "rss_mb_every_25": mb,
            "pss_mb_every_25": [round(r / 2**20) for r in pss],
            "rss_growth_second_half_mb": (mb[-1] - mb[len(mb) // 2]) if mb else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sessions", type=int, help="sessions opening distinct scenarios (default 8)")
    mode.add_argument("--same-preset", type=int, metavar="N", help="sessions pressing Run on one heavy link")
    mode.add_argument("--configs", type=int, metavar="N", help="configurations stepped through in one session")
    p.add_argument("--moves", type=int, default=5, help="slider moves per session (default 5)")
    p.add_argument("--timeout", type=float, default=240, help="seconds one run may take (default 240)")
    p.add_argument("--cold", action="store_true",
                   help="no teacher's tab first: the sessions meet a server that has loaded nothing yet")
    p.add_argument("--url", help="a running server on this machine (default: start app.py here)")
    p.add_argument("--server-pid", type=int, help="its process id, for RSS (with --url)")
    p.add_argument("--port", type=int, default=None, help="port for the server started here")
    p.add_argument("--workers", type=int, default=None,
                   help="COMPRESSION_LAB_WORKERS for the server started here (0: every backend call in the "
                        "session's thread, the single-process baseline; default: the app's own, 2)")
    p.add_argument("--cache", help="COMPRESSION_LAB_CACHE for the server started here (default: a new temp folder)")
    args = p.parse_args(argv)
    if not (args.same_preset or args.configs):
        args.sessions = args.sessions or 8
    for n in (args.sessions, args.same_preset, args.configs):
        if n is not None and not 1 <= n <= 500:
            p.error("the count must be 1..500")
    load = os.getloadavg()
    with served(args) as (url, pid):
        if args.same_preset:
            result = asyncio.run(same_preset(args, url, pid))
        elif args.configs:
            result = asyncio.run(many_configs(args, url, pid))
        else:
            result = asyncio.run(distinct(args, url, pid))
    result["load_average_before"] = [round(x, 2) for x in load]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["cpus"] = os.cpu_count()
    result["workers"] = args.workers
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
