"""Stage 6: record runs in MLflow.

Uses `MlflowClient` with explicit run ids (no global "active run"), so that several runs in one
process, a sweep's parent run and its children never get mixed up. Every run that is started is
ended with a status: FINISHED, FAILED (an exception, a divergence) or KILLED (Ctrl-C, SIGTERM);
runs left RUNNING by a SIGKILL are found and marked KILLED by `mark_stale_runs`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import getpass
import json
import os
import queue
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from actlab import PROJECT_ROOT
from actlab.pipeline import redact
from actlab.pipeline.metric_keys import rounded
from actlab.pipeline.preflight import TrackingUnreachable
from actlab.pipeline.version import TAG as RESULTS_TAG

HOST = socket.gethostname()
START_TOKEN_TAG = "start_token"  # one per started run, so that its create_run can be retried safely
_BATCH = 1000  # MLflow's limit of metrics per log_batch call
# Queued metrics reach the store at least this often (and all of them when the run ends): what the
# MLflow UI shows of a running run lags by at most this much.
WRITE_INTERVAL_S = 10.0
# How long writes to an unreachable tracking server are retried (conf/tracking: tracking.retry_s).
DEFAULT_RETRY_S = 60.0


def _is_unreachable(error: BaseException) -> bool:
    """A connection refused, reset or timed out (MLflow wraps requests' errors in MlflowException
    without `from`, so the chain is followed through __context__ too)."""
    import requests

    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        text = str(error)
        if text.startswith("API request to") and ("Max retries exceeded" in text or "timeout" in text.lower()
                                                  or "Connection" in text):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked": another process holds the write lock for longer than the
    driver waits; the write goes through a moment later."""
    return "database is locked" in str(error)


class _Retrying:
    """An MlflowClient whose calls are retried while the store is unreachable or busy, for at most
    `retry_s` seconds; then a tracking server raises TrackingUnreachable. Once a store has been
    found unreachable, later calls through the same object are tried once (a run's closing writes
    do not wait `retry_s` each)."""

    def __init__(self, client: MlflowClient, uri: str, retry_s: float):
        self._client, self._uri, self._retry_s = client, uri, float(retry_s)
        self._down = False

    @property
    def unretried(self) -> MlflowClient:
        return self._client

    def __getattr__(self, name: str):
        if name.startswith("__") or "_client" not in self.__dict__:
            raise AttributeError(name)  # pickling and copying look for dunders before __init__ ran
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self.call(attribute, *args, **kwargs)

    def call(self, method, *args, **kwargs):
        deadline = time.monotonic() + (0.0 if self._down else self._retry_s)
        pause = 0.25
        while True:
            try:
                result = method(*args, **kwargs)
                self._down = False
                return result
            except Exception as error:
                unreachable = _is_unreachable(error)
                if not (unreachable or _is_busy(error)):
                    raise
                if time.monotonic() >= deadline:
                    if unreachable:
                        self._down = True
                        raise TrackingUnreachable(f"tracking server unreachable at {redact.uri(self._uri)} "
                                                  f"(retried for {self._retry_s:g} s: tracking.retry_s)") from None
                    raise
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(2.0, pause * 2)


def _http_settings(retry_s: float) -> None:
    """MLflow's own HTTP retries (7, with exponential back-off: minutes) would outlast
    tracking.retry_s: our loop retries instead, one quick attempt at a time. Its public settings,
    left as they are if the user set them."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(min(120, max(10, retry_s)))))




@functools.lru_cache(maxsize=1)  # the same for every job a sweep worker runs: ask git once
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def source_tags() -> dict[str, str]:
    """MLflow's system tags for who ran what (the UI's User, Source and Version columns); the fluent
    API sets them from its run context, a client-created run has to set them itself."""
    commit = git_commit()
    return {"mlflow.user": _user(), "mlflow.source.type": "LOCAL", "mlflow.source.name": "src/run.py",
            "mlflow.source.git.commit": commit.removesuffix("-dirty")} | ({"code_dirty": "true"} if commit.endswith("-dirty") else {})


def resolve_uri(uri: str) -> str:
    """`sqlite:///results/mlflow.db` (relative to the working directory) -> an absolute URI."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri[len(prefix):]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


def ui_command(uri: str) -> str:
    uri = redact.uri(uri)
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    return f"mlflow ui --backend-store-uri {uri}"


UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default


def ui_url(uri: str, experiment_id: str) -> str:
    """The experiment's runs in the UI's model-training view (not its GenAI traces page), as charts."""
    base = redact.uri(uri).rstrip("/") if uri.startswith(("http://", "https://")) else UI_ADDRESS
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&compareRunsMode=CHART"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _empty_sqlite_store() -> Path | None:
    """An SQLite store as this MLflow version builds it, its Default experiment deleted (through
    MLflow's API), made once and kept in the user's cache (None if it cannot be written there)."""
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "actlab"
    empty = cache / f"mlflow-{mlflow.__version__}-empty.db"
    if empty.exists():
        return empty
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            built = Path(tmp) / "empty.db"
            client = MlflowClient(tracking_uri=f"sqlite:///{built}")
            # MLflow adds the Default experiment, with an artifact location under the working
            # directory, when it opens a store that has none: in the copies it stays deleted.
            client.delete_experiment(client.get_experiment_by_name("Default").experiment_id)
            del client
            os.replace(built, empty)  # whole or not at all, whichever process gets there first
    except (OSError, sqlite3.Error, MlflowException):
        return None  # MLflow builds each new store itself, as without us
    return empty


def _start_sqlite_store(path: Path) -> None:
    """A new SQLite store starts as a copy of an empty one. MLflow builds a new database by running
    its schema migrations one after another: 1.3 s per store here, paid by every test, benchmark and
    fresh results folder; the copy takes 30 ms. A store that exists is left alone."""
    empty = None if path.exists() else _empty_sqlite_store()
    if empty is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(empty, tmp)
        os.link(tmp, path)  # fails if another process created the store meanwhile: theirs is kept
    except OSError:
        pass  # that, or no such folder: MLflow opens or builds the store as it would without us
    finally:
        tmp.unlink(missing_ok=True)


_SHARED: dict[tuple[str, str, float], "Store"] = {}  # Store.shared's, by store, experiment and retry time


class Store:
    """One MLflow experiment in one tracking store, created on first use."""

    def __init__(self, uri: str, experiment: str, retry_s: float = DEFAULT_RETRY_S):
        self.uri = resolve_uri(uri)
        if self.uri.startswith("sqlite:///"):
            _start_sqlite_store(Path(self.uri[len("sqlite:///"):]))
        if self.uri.startswith(("http://", "https://")):
            _http_settings(retry_s)
            if redact.uri(self.uri) != self.uri:
                # MLflow prints every ended run's address, password included ("View run ... at:");
                # its public switch turns that off (the harness prints its own line, blanked).
                os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
        self.client = _Retrying(MlflowClient(tracking_uri=self.uri), self.uri, retry_s)
        self.experiment_id = self._experiment_id(experiment)

    @classmethod
    def shared(cls, uri: str, experiment: str, retry_s: float = DEFAULT_RETRY_S) -> "Store":
        """This process's Store of `experiment` in `uri`, opened once: a sweep worker's jobs share
        its client and experiment (0.12 s a job otherwise). A deleted SQLite file opens anew."""
        resolved = resolve_uri(uri)
        key = (resolved, experiment, float(retry_s))
        store = _SHARED.get(key)
        if store is None or (resolved.startswith("sqlite:///") and not Path(resolved[len("sqlite:///"):]).exists()):
            store = _SHARED[key] = cls(uri, experiment, retry_s)
        return store

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if self.uri.startswith("sqlite:///"):
            # Artifacts next to the database, not in whatever directory the user ran from.
            location = (Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts" / name).as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except TrackingUnreachable:
            raise
        except Exception:  # created meanwhile by another process
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def ui_url(self) -> str:
        return ui_url(self.uri, self.experiment_id)

    def start_run(self, name: str, tags: dict[str, str], parent_id: str | None = None) -> "TrackedRun":
        tags = {**source_tags(), **tags, "host": HOST, "pid": str(os.getpid())} | slurm_tags()
        tags = {key: redact.text(value) for key, value in tags.items()}
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        return TrackedRun(self, self._create_run_once(name, tags))

    def _create_run_once(self, name: str, tags: dict[str, str]) -> str:
        """create_run, retried without making two runs: a server killed after it stored the run but
        before it answered leaves a run that the retry must find, not duplicate."""
        tags = {**tags, START_TOKEN_TAG: uuid.uuid4().hex}
        attempts = 0

        def create_or_find():
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                found = self.client.unretried.search_runs(
                    [self.experiment_id], filter_string=f"tags.{START_TOKEN_TAG} = '{tags[START_TOKEN_TAG]}'",
                    max_results=1)
                if found:
                    return found[0]
            return self.client.unretried.create_run(self.experiment_id, run_name=name, tags=tags)

        return self.client.call(create_or_find).info.run_id

    @contextlib.contextmanager
    def claim(self, fingerprint: str):
        """Hold this config for the time of the block, so that two sweeps into one SQLite store
        never train it both: a second process blocks here until the first is done, then finds its
        FINISHED run and skips. The claim is an flock on a file next to the database: the kernel
        releases it when its process ends, so a claim of a killed process is never in the way.
        (Tracking servers: no claim, each sweep skips only what is FINISHED when its job starts.)"""
        if not self.uri.startswith("sqlite:///"):
            yield
            return
        database = Path(self.uri[len("sqlite:///"):])
        claims = database.with_name(f".{database.name}.claims")
        claims.mkdir(exist_ok=True)
        fd = os.open(claims / f"{self.experiment_id}-{fingerprint}", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 100, 0).decode(errors="replace").strip() or "another process"
                print(f"waiting: {holder} is training this config (fingerprint {fingerprint})", flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{HOST} pid {os.getpid()}".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the claim

    def find_finished(self, fingerprint: str, results_version: int) -> str | None:
        """A FINISHED run of this config made by code of this results version (actlab.pipeline.version): a
        run of another version, or one without a version (legacy), does not stand in for it."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(f"tags.config_fingerprint = '{fingerprint}' and tags.{RESULTS_TAG} = '{results_version}' "
                           "and attributes.status = 'FINISHED'"),
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def mark_stale_runs(self) -> list[str]:
        """End as KILLED the RUNNING runs of this host whose process is gone (e.g. after SIGKILL)."""
        stale = []
        runs = self.client.search_runs(
            [self.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000
        )
        for run in runs:
            pid, job = run.data.tags.get("pid", ""), run.data.tags.get("slurm_job_id")
            if run.data.tags.get("host") == HOST and pid.isdigit() and not pid_alive(int(pid)):
                why = "stale-run cleanup: its process was gone"
            elif job and slurm_job_gone(job):  # on any node: SLURM knows whether the job is still there
                why = f"stale-run cleanup: its SLURM job {job} had left the queue"
            else:
                continue
            self.client.set_tag(run.info.run_id, "ended_by", why)
            self.client.set_terminated(run.info.run_id, "KILLED")
            stale.append(run.info.run_id)
        return stale


class _BatchWriter:
    """One thread writing queued metrics in order, every `WRITE_INTERVAL_S` and when closed.

    Written together, an epoch's metrics cost less than half as much per metric (SQLAlchemy's cost
    per call, MLflow's update of each key's latest value): 56 ms for 1,000 metrics vs 130 ms in ten
    calls. That CPU is taken from training: both share the machine's cores. If a write fails, the puts
    before the failing one are still written, as if each had been written on its own."""

    def __init__(self, client: MlflowClient, run_id: str):
        self._client, self._run_id = client, run_id
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.cpu_s = 0.0  # CPU time of the writes (this thread's), for the benchmark
        self._thread = threading.Thread(target=self._drain, name=f"mlflow-metrics-{run_id[:8]}", daemon=True)
        self._thread.start()

    def put(self, items: list[Metric]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(items)

    def _drain(self) -> None:
        puts: list[list[Metric]] = []
        due = time.monotonic() + WRITE_INTERVAL_S
        while True:
            try:
                items = self._queue.get(timeout=max(0.0, due - time.monotonic()) if puts else None)
            except queue.Empty:
                items = []  # the interval is over: write what has come
            if items:
                puts.append(items)
            closing = items is None
            if puts and (closing or time.monotonic() >= due):
                self._write(puts)
                puts = []
                due = time.monotonic() + WRITE_INTERVAL_S
            if closing:
                return

    def _write(self, puts: list[list[Metric]]) -> None:
        start = time.thread_time()
        try:
            self._write_calls(puts)
        finally:
            self.cpu_s += time.thread_time() - start

    def _write_calls(self, puts: list[list[Metric]]) -> None:
        # Whole puts per call, up to MLflow's limit (a larger put is split on its own).
        calls: list[list[list[Metric]]] = [[]]
        for items in puts:
            if calls[-1] and sum(map(len, calls[-1])) + len(items) > _BATCH:
                calls.append([])
            calls[-1].append(items)
        for call in calls:
            if self._error is not None:
                return
            try:
                self._log([metric for items in call for metric in items])
            except BaseException:
                for items in call:
                    try:
                        self._log(items)
                    except BaseException as error:
                        self._error = error
                        return

    def _log(self, metrics: list[Metric]) -> None:
        for start in range(0, len(metrics), _BATCH):
            self._client.log_batch(self._run_id, metrics=metrics[start:start + _BATCH])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class TrackedRun:
    """An MLflow run; as a context manager it always ends with a status, never left RUNNING."""

    def __init__(self, store: Store, run_id: str):
        self.store = store
        self.client = store.client
        self.run_id = run_id
        self.status = "FINISHED"
        self._writer: _BatchWriter | None = None
        self.writer_cpu_s = 0.0  # CPU time of the metric writes, summed over the run
        self._aside: list = []  # writes handed to a helper thread (`aside`), waited for by `flush`

    def aside(self, write, *args) -> None:
        """`write(*args)` on a helper thread, in order, while this thread goes on (a run's params and
        dataset while it trains); `flush` waits for it and raises its error, so the run is not FINISHED."""
        from concurrent.futures import ThreadPoolExecutor

        if not self._aside:
            self._aside.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mlflow-aside-{self.run_id[:8]}"))
        self._aside.append(self._aside[0].submit(write, *args))

    def log_params(self, params: dict[str, Any]) -> None:
        items = [Param(key, redact.text(value)[:6000]) for key, value in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Queue an epoch's metrics (all layers) for the writer thread, which batches them while
        training goes on. Our own thread rather than MLflow's asynchronous logging, which flushes on
        a timer and so adds about a second to every run's end; this one is drained on `flush`."""
        self.log_steps([(key, value, step) for key, value in metrics.items()])

    def log_steps(self, rows: Iterable[tuple[str, float, int]]) -> None:
        """Queue (key, value, step) rows, each value rounded to 6 significant digits."""
        now = int(time.time() * 1000)
        items = [Metric(key, rounded(value), now, step) for key, value, step in rows]
        if self._writer is None:
            self._writer = _BatchWriter(self.client, self.run_id)
        self._writer.put(items)

    def log_image(self, key: str, image, step: int) -> None:
        """An image (array or PIL) under `key` at `step`: the chart view shows it with a step slider."""
        self.client.log_image(self.run_id, image, key=key, step=step, synchronous=True)

    def log_dataset(self, name: str, digest: str, profile: dict[str, Any], source: dict[str, Any], context: str = "train") -> None:
        """The run's dataset as an MLflow dataset input: the runs table's Dataset column and filter."""
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.exceptions import MlflowException

        dataset = Dataset(name=name, digest=digest, source_type="code", source=json.dumps(source),
                          profile=json.dumps(profile))
        inputs = [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])]
        try:
            self.client.log_inputs(self.run_id, datasets=inputs)
        except MlflowException as error:
            # Two jobs logging the same new dataset at once: MLflow looks it up, finds nothing, and both
            # insert it; the second insert breaks the table's unique key. Now it exists: link it.
            if not any(text in str(error) for text in ("UNIQUE constraint failed: datasets", "duplicate key value")):
                raise
            self.client.log_inputs(self.run_id, datasets=inputs)

    def flush(self) -> None:
        """Wait until every queued write is done (both threads, whatever fails); raise the first error."""
        errors: list[BaseException] = []
        if self._aside:
            helper, *writes = self._aside
            self._aside = []
            helper.shutdown(wait=True)
            errors += [write.exception() for write in writes if write.exception() is not None]
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except BaseException as error:  # raised below, after the other thread's
                errors.append(error)
            self.writer_cpu_s += writer.cpu_s
        if errors:
            raise errors[0]

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, redact.text(v)) for k, v in tags.items()])

    def log_artifacts(self, directory: Path) -> None:
        self.client.log_artifacts(self.run_id, str(directory))

    def __enter__(self) -> "TrackedRun":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        flush_error = None
        try:
            self.flush()  # no queued metric is lost, even when the run ends on an error or Ctrl-C
        except Exception as failed:
            flush_error = failed
        if kind is None and flush_error is not None:
            kind, error = type(flush_error), flush_error
        if kind is not None:
            killed = issubclass(kind, (KeyboardInterrupt, SystemExit))
            self.status = "KILLED" if killed else "FAILED"
            try:
                self.set_tags({"error": f"{kind.__name__}: {error}"[:5000]})
            except Exception:
                pass
        self.client.set_terminated(self.run_id, self.status)
        if flush_error is not None and flush_error is error:
            raise flush_error  # the run's own code succeeded; the failed write must not pass silently


def slurm_tags() -> dict[str, str]:
    """Which SLURM job a run is (its array job and task, as `squeue`/`scancel` name it), when it
    runs in one: the sweep's end marks a run KILLED when its job has left the queue."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if all(job):
        return {"slurm_job_id": f"{job[0]}_{job[1]}"}
    return {"slurm_job_id": os.environ["SLURM_JOB_ID"]} if os.environ.get("SLURM_JOB_ID") else {}


SLURM_ALIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT")


def slurm_job_gone(job: str) -> bool:
    """True when `squeue` says this job (`123` or `123_4`) is no longer pending or running; False
    when it is, or when SLURM cannot be asked (no squeue here, no controller): then nothing is ended."""
    try:
        done = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    if done.returncode != 0:
        return "Invalid job id" in done.stderr  # purged from the controller's memory: long gone
    states = done.stdout.split()
    return not any(state in SLURM_ALIVE for state in states)


def children(store: Store, parent_id: str) -> Iterable[Any]:
    return store.client.search_runs(
        [store.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=10000
    )
