import datetime as dt
import json
import math
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text

from aibench.errors import UserError
from aibench.results import liveness
from aibench.results.store import SCHEMA_VERSION, ResultStore, dumps, normalize_url, utcnow

PG_URL = os.environ.get("AIBENCH_TEST_PG_URL")  # set by .ci/run, which starts a PostgreSQL server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty store on each backend: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set AIBENCH_TEST_PG_URL (.ci/run starts one)")
    name = f"aibench_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = normalize_url(PG_URL).rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def _row(**kw):
    base = dict(benchmark="DC-AI-C1", name="image_classification", mode="train", scale="tiny", status="success",
                quality=0.9, target=0.8, metric="top1_accuracy", seed=0, metrics={"throughput": 10.0})
    base.update(kw)
    return base


def test_records_round_trip_and_filter(store_url):
    store = ResultStore(store_url)
    store.add(**_row())
    store.add(**_row(mode="infer", status="completed", metrics={"latency_ms": {"50.00": 1.5}}))
    store.add(**_row(benchmark="DC-AI-C9", name="object_detection"))
    rows = store.records()
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert store.records(benchmark="DC-AI-C1", mode="infer")[0]["metrics"]["latency_ms"]["50.00"] == 1.5
    for key in ("benchmark", "mode", "scale", "status", "quality", "target", "metrics"):
        assert key in rows[0]
    # a second store on the same file sees what the first wrote (records are committed at once)
    assert len(ResultStore(store_url).records()) == 3


def test_non_finite_numbers_become_null_json(store_url):
    store = ResultStore(store_url)
    store.add(**_row(status="diverged", quality=math.nan, metrics={"last_loss": math.inf}, curve=[{"q": math.nan}]))
    row = json.loads(dumps(store.records()))[0]
    assert row["quality"] is None and row["metrics"]["last_loss"] is None and row["curve"] == [{"q": None}]


def test_json_columns_round_trip_intact(store_url):
    store = ResultStore(store_url)
    nested = {"latency_ms": {"50.00": 1.5, "99.00": 2.25}, "scenarios": [{"name": "Offline", "qps": 3}],
              "text": "ünïcode ✓", "flag": True, "none": None}
    store.add(**_row(metrics=nested, curve=[{"epoch": 1, "quality": 0.5}], config={"a": [1, 2, {"b": "c"}]}))
    (row,) = ResultStore(store_url).records()
    assert row["metrics"] == nested and row["curve"] == [{"epoch": 1, "quality": 0.5}]
    assert row["config"] == {"a": [1, 2, {"b": "c"}]}


def _running(store, **kw):
    fields = {k: v for k, v in _row(**kw).items() if k != "status"}
    return store.start(**fields)


def test_a_run_lives_as_running_then_ends_with_exactly_one_final_status(store_url):
    store = ResultStore(store_url)
    record_id = _running(store)
    (row,) = store.records()
    assert row["status"] == "running" and row["pid"] == os.getpid() and row["host"] == liveness.host_name()
    store.update(record_id, curve=[{"epoch": 1, "quality": 0.4}])
    assert store.records()[0]["curve"] == [{"epoch": 1, "quality": 0.4}]
    store.finish(record_id, "error", message="RuntimeError: boom", traceback="Traceback ...")
    with pytest.raises(RuntimeError, match="already finalized"):
        store.finish(record_id, "success")
    store.finish(record_id, "success", strict=False)  # a late second ending leaves the first
    (row,) = store.records()
    assert row["status"] == "error" and row["message"] == "RuntimeError: boom" and row["finished_at"]
    assert row["traceback"] == "Traceback ..."


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_record_whose_process_is_gone_reads_as_crashed_and_the_next_writer_stores_it(store_url):
    store = ResultStore(store_url)
    dead = _running(store)
    alive = _running(store)
    reused = _running(store)
    engine = create_engine(store.url)
    with engine.begin() as conn:  # one whose process died; one whose id now belongs to another process
        conn.execute(text("UPDATE runs SET pid = :pid WHERE id = :id"), {"pid": _dead_pid(), "id": dead})
        conn.execute(text("UPDATE runs SET process_start = 'another start' WHERE id = :id"), {"id": reused})
    engine.dispose()
    statuses = {r["id"]: r["status"] for r in ResultStore(store_url).records()}
    assert statuses == {dead: "crashed", alive: "running", reused: "crashed"}
    # reading did not write: the rows are still `running` until a writer marks them
    assert sorted(ResultStore(store_url).mark_crashed()) == [dead, reused]
    assert ResultStore(store_url).mark_crashed() == []
    rows = {r["id"]: r for r in store.records()}
    assert rows[dead]["status"] == "crashed" and "process ended" in rows[dead]["message"]


def test_a_run_on_another_host_is_crashed_only_when_its_heartbeat_is_stale(store_url):
    store = ResultStore(store_url)
    fresh, stale = _running(store), _running(store)
    engine = create_engine(store.url)
    old = utcnow() - liveness.STALE_HEARTBEAT - dt.timedelta(seconds=5)
    with engine.begin() as conn:
        conn.execute(text("UPDATE runs SET host = 'elsewhere', pid = 1"))
        conn.execute(text("UPDATE runs SET heartbeat_at = :t WHERE id = :id"), {"t": old, "id": stale})
    engine.dispose()
    assert {r["id"]: r["status"] for r in store.records()} == {fresh: "running", stale: "crashed"}


def test_the_heartbeat_thread_refreshes_until_stopped():
    beats = []
    with liveness.Heartbeat(lambda: beats.append(1), every_s=0.01):
        while len(beats) < 3:
            pass
    stopped = len(beats)
    import time

    time.sleep(0.05)
    assert len(beats) == stopped


def test_a_store_from_an_older_aibench_is_upgraded_and_a_newer_one_refused(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # the schema aibench wrote before records had a life (schema 1)
        conn.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY, created_at DATETIME, benchmark VARCHAR(16), "
                          "name VARCHAR(64), mode VARCHAR(8), scale VARCHAR(8), status VARCHAR(16), quality FLOAT, "
                          "target FLOAT, metric VARCHAR(32), seed INTEGER, metrics JSON, curve JSON, config JSON, "
                          "characterization JSON, system JSON, log_path VARCHAR(512))"))
        conn.execute(text("INSERT INTO runs (created_at, benchmark, name, mode, scale, status, metric, seed, metrics, "
                          "curve, config, characterization, system) VALUES ('2026-01-01 00:00:00', 'DC-AI-C1', 'ic', "
                          "'train', 'tiny', 'success', 'top1', 0, '{}', '[]', '{}', '{}', '{}')"))
    engine.dispose()
    store = ResultStore(f"sqlite:///{path}")
    (row,) = store.records()
    assert row["status"] == "success" and row["host"] is None
    assert row["label"] == "unknown-host-cpu"  # derived from what the old row stored
    _running(store, label="box-cpu")  # the new columns are there
    assert [r["label"] for r in store.records(label="box-cpu")] == ["box-cpu"]
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT max(version) FROM aibench_schema")).scalar() == SCHEMA_VERSION
        conn.execute(text("INSERT INTO aibench_schema (version) VALUES (99)"))
    engine.dispose()
    with pytest.raises(UserError, match="newer aibench .schema 99"):
        ResultStore(f"sqlite:///{path}")


def test_records_are_filtered_by_label_and_old_rows_get_the_default_label(store_url):
    store = ResultStore(store_url)
    store.add(**_row(label="fast-box"))
    store.add(**_row(system={"hostname": "slow", "gpus": [{"name": "NVIDIA H200"}]}, config={"device": "cuda:0"}))
    assert [r["label"] for r in store.records()] == ["fast-box", "slow-cuda-H200"]
    assert len(store.records(label="fast-box")) == 1 and store.records(label="nobody") == []


def test_postgres_urls_as_hosted_services_write_them_use_psycopg():
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


WRITER = """
import sys
from aibench.results.store import ResultStore
store = ResultStore(sys.argv[1])
for i in range(25):
    rid = store.start(benchmark="DC-AI-C1", name="ic", mode="train", scale="tiny", quality=None, target=0.8,
                      metric="top1", seed=int(sys.argv[2]), metrics={}, curve=[])
    store.update(rid, curve=[{"epoch": 1, "i": i}])
    store.finish(rid, "success", quality=i / 25)
"""


def test_four_processes_writing_one_store_at_once_lose_nothing(store_url):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, store_url, str(n)], stderr=subprocess.PIPE, text=True)
             for n in range(4)]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    rows = ResultStore(store_url).records()
    assert len(rows) == 100 and {r["status"] for r in rows} == {"success"}
    assert sorted((r["seed"], r["curve"][0]["i"]) for r in rows) == [(n, i) for n in range(4) for i in range(25)]
