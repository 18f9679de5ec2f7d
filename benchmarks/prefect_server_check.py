"""The production set-up end to end: a real `prefect server start`, `ningliang serve` serving the deployments, one
inbox-triggered flow run, and its artifacts read back from the server's API.

    python benchmarks/prefect_server_check.py                # library on SQLite in a temporary folder
    python benchmarks/prefect_server_check.py --postgres     # library on a throwaway PostgreSQL (tests/pg_server.py)
    python benchmarks/prefect_server_check.py --db URL       # library on the given database

Everything runs in a temporary PREFECT_HOME on a free local port; nothing outside it is touched. Prints a table of
timings and the artifacts; exits 0 with a printed reason ("SKIP: ...") when the server cannot start, 1 when the
flow run or its artifacts do not appear in time.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CALL_FOLDER = "c1"
PREFIX = "check-"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def write_inbox(inbox: Path) -> None:
    from pipelines.sample import generate_call, write_call

    call, truth = generate_call(40, 7)
    folder = inbox / CALL_FOLDER
    folder.mkdir(parents=True)
    write_call(call, truth, folder / "submissions.csv")
    for extra in folder.iterdir():  # keep only the submissions: the truth file is not a submission
        if extra.name != "submissions.csv":
            extra.rename(inbox.parent / extra.name)


async def read_back(key: str) -> dict[str, Any]:
    """The consolidate-inbox flow runs, the deployments and the call's artifacts, from the server's API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowFilter, FlowFilterName

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["consolidate-inbox"])))
        deployments = await client.read_deployments()
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key, f"{key}-counts"]))
        )
    return {
        "runs": [(r.name, r.state_name, str(r.deployment_id)) for r in runs],
        "deployments": {str(d.id): (d.name, [s.schedule for s in d.schedules]) for d in deployments},
        "artifacts": {a.key: a for a in artifacts},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="library database URL (default: SQLite in the temporary folder)")
    parser.add_argument("--postgres", action="store_true", help="library on a throwaway PostgreSQL server")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for the flow run")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ningliang-prefect-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = os.environ | {
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",  # schedule the poll deployment's runs promptly
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    os.environ.update({k: env[k] for k in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED")})
    pg = None
    db = args.db or f"sqlite:///{work / 'library.sqlite'}"
    if args.postgres:
        sys.path.insert(0, str(REPO))
        from tests import pg_server

        try:
            pg = pg_server.start()
        except pg_server.Unavailable as exc:
            print(f"SKIP: PostgreSQL unavailable: {exc}")
            return 0
        db = pg.create_database("bench")
    timings: dict[str, float] = {}
    began = time.monotonic()
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=(work / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    serving: subprocess.Popen[bytes] | None = None
    ok = False
    try:
        if not wait_healthy(api, server, 90):
            tail = (work / "server.log").read_text(errors="replace")[-600:]
            print(f"SKIP: prefect server did not start on port {port} within 90 s:\n{tail}")
            return 0
        timings["server start"] = time.monotonic() - began
        inbox = work / "inbox"
        write_inbox(inbox)
        mark = time.monotonic()
        command = [str(BIN / "ningliang"), "serve", "--inbox", str(inbox), "--call-prefix", PREFIX, "--db", db]
        command += ["--out-root", str(work / "reports"), "--poll-seconds", "5", "--settle-seconds", "1"]
        serving = subprocess.Popen(
            command,
            env=env,
            stdout=(work / "serve.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        key = f"consolidate-{PREFIX}{CALL_FOLDER}"
        found: dict[str, Any] = {}
        while time.monotonic() - mark < args.timeout:
            found = asyncio.run(read_back(key))
            if len(found["artifacts"]) == 2 and any(state == "Completed" for _, state, _ in found["runs"]):
                break
            if serving.poll() is not None:
                break
            time.sleep(2)
        timings["serve -> artifacts on the server"] = time.monotonic() - mark
        timings["total"] = time.monotonic() - began
        print(f"{'step':<36}{'seconds':>9}")
        for step, seconds in timings.items():
            print(f"{step:<36}{seconds:>9.1f}")
        print(f"\nlibrary: {db.split('@')[-1]}")
        for _, (name, schedules) in sorted(found.get("deployments", {}).items()):
            print(f"deployment {name}: {schedules}")
        states = [state for _, state, _ in found.get("runs", [])]
        print("flow runs: " + ", ".join(f"{s} {states.count(s)}" for s in sorted(set(states))))
        artifacts = found.get("artifacts", {})
        if len(artifacts) != 2:
            print(f"FAIL: artifacts {sorted(artifacts)} after {args.timeout:.0f} s; logs in {work}")
            print((work / "serve.log").read_text(errors="replace")[-2000:])
            return 1
        print(f"\nartifact {key} (markdown):\n{artifacts[key].data}")
        counts = json.loads(artifacts[f"{key}-counts"].data)
        print(f"artifact {key}-counts (table): " + ", ".join(f"{r['字段']}={r['数量']}" for r in counts))
        print(f"OK: flow run completed and its artifacts are on {api}")
        ok = True
        return 0
    finally:
        for process in (serving, server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if pg is not None:
            pg.drop_database(db)
            pg.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}")


if __name__ == "__main__":
    sys.exit(main())
