"""The results store: one row per run, SQLAlchemy over SQLite (the default) or PostgreSQL.

A run's row is created `running` when the run starts (host, process id and start time, configuration), its curve
is written at each evaluation, a heartbeat is refreshed while it lives, and it is finalized once with its final
status. A `running` row whose process is gone reads as `crashed`; the next writer stores that. Several processes
may write one SQLite store at once (WAL journal, a busy timeout, one short transaction per write).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

from sqlalchemy import (JSON, DateTime, Float, Integer, String, Text, create_engine, event, inspect, select, text,
                        update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aibench.errors import UserError
from aibench.results.liveness import host_name, process_start, run_gone

DEFAULT_DIR = Path("aibench-results")
DEFAULT_URL = f"sqlite:///{DEFAULT_DIR / 'results.sqlite'}"

STATUSES = ("running", "success", "target_missed", "diverged", "aborted", "crashed", "completed", "error", "smoke",
            "invalid")  # invalid: an inference run LoadGen reported INVALID (its reason in the message)
FINAL_STATUSES = tuple(s for s in STATUSES if s != "running")
SCHEMA_VERSION = 3  # 1: before crash-safe records (no version table, no liveness columns); 2: before labels


class Base(DeclarativeBase):
    pass


class RunRecord(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    benchmark: Mapped[str] = mapped_column(String(16), index=True)  # DC-AI-C1
    name: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))  # train | infer
    scale: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    quality: Mapped[float | None] = mapped_column(Float, nullable=True)
    target: Mapped[float | None] = mapped_column(Float, nullable=True)
    metric: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    curve: Mapped[list] = mapped_column(JSON, default=list)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    characterization: Mapped[dict] = mapped_column(JSON, default=dict)  # params, FLOPs
    system: Mapped[dict] = mapped_column(JSON, default=dict)
    log_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # schema 2: who runs it, whether it still lives, and how it ended
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    process_start: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it ended so (an error's one line)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    # schema 3: the machine or software stack the run speaks for (`--label`), what `aibench compare` compares
    label: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "benchmark": self.benchmark,
            "name": self.name,
            "mode": self.mode,
            "scale": self.scale,
            "status": self.status,
            "quality": self.quality,
            "target": self.target,
            "metric": self.metric,
            "seed": self.seed,
            "metrics": self.metrics,
            "curve": self.curve,
            "config": self.config,
            "params": (self.characterization or {}).get("params", {}).get("total"),
            "characterization": self.characterization,
            "system": self.system,
            "log_path": self.log_path,
            "host": self.host,
            "pid": self.pid,
            "heartbeat_at": self.heartbeat_at.isoformat(timespec="seconds") if self.heartbeat_at else None,
            "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None,
            "message": self.message,
            "traceback": self.traceback,
            "label": self.label or label_from_record(self.system, self.config),
        }

    def gone(self, now: dt.datetime) -> bool:
        return self.status == "running" and run_gone(self.host, self.pid, self.process_start, self.heartbeat_at, now)


class SchemaInfo(Base):
    __tablename__ = "aibench_schema"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)


SCHEMA_2_COLUMNS = {"host": "VARCHAR(255)", "pid": "INTEGER", "process_start": "VARCHAR(64)",
                    "heartbeat_at": "TIMESTAMP", "finished_at": "TIMESTAMP", "message": "TEXT", "traceback": "TEXT"}
SCHEMA_3_COLUMNS = {"label": "VARCHAR(128)"}


def default_label(hostname: str, device: str, gpu_name: str | None = None) -> str:
    """A run's label when the user gives none: the host and the device it ran on (`box-cpu`, `box-cuda-H200`)."""
    kind = device.split(":")[0]
    if kind == "cuda" and gpu_name:
        kind += "-" + gpu_name.replace("NVIDIA ", "").split()[0]
    return f"{hostname or 'unknown-host'}-{kind}"


def label_from_record(system: dict | None, config: dict | None) -> str:
    """The default label from what a record stores (its host and device): for new runs without `--label`, and for
    records stored before labels existed."""
    system, config = system or {}, config or {}
    gpus = system.get("gpus") or []
    gpu = gpus[0].get("name") if gpus and isinstance(gpus[0], dict) else None
    return default_label(system.get("hostname", ""), str(config.get("device", "cpu")), gpu)


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None so every row is valid JSON (a diverged loss is still recorded)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class NoResults(UserError):
    """A command that only reads found no store (it never creates one)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def normalize_url(url: str) -> str:
    """`postgres://` (as hosted services write it) and a driverless `postgresql://` use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _connect(url: str) -> Engine:
    if _sqlite_path(url) is None:
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 60})  # wait up to a minute for another writer

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    return engine


class ResultStore:
    """The store at a SQLAlchemy URL. `create=False` (commands that only read) never creates a file or a table:
    an empty or missing store is a one-line error saying what to run."""

    def __init__(self, url: str = DEFAULT_URL, create: bool = True) -> None:
        self.url = normalize_url(url)
        self.created: list[int] = []  # ids of the records this object created, in order
        try:
            path = _sqlite_path(self.url)
        except ArgumentError:
            raise UserError(f"--db {url!r} is not a database URL (e.g. sqlite:///results.sqlite or "
                            "postgresql://user@host/db)") from None
        if path is not None and not create and not path.exists():
            raise NoResults(f"no results yet: {path} does not exist (run `aibench run subset` to make some)")
        try:
            if path is not None and create:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = _connect(self.url)
            self._schema(create)
        except NoSuchModuleError:
            raise UserError(f"--db {url!r}: no database driver for this kind of URL (use sqlite:/// or "
                            "postgresql://)") from None
        except (OSError, SQLAlchemyError) as err:
            raise UserError(f"cannot open the results store {url!r}: {_one_line(err)}") from None

    def _schema(self, create: bool) -> None:
        """Create the tables, or upgrade a store an older aibench wrote; refuse one a newer aibench wrote."""
        tables = inspect(self.engine).get_table_names()
        if "runs" not in tables and not create:
            raise NoResults(f"no results yet in {self.url} (run `aibench run subset` to make some)")
        version = self._version() if "aibench_schema" in tables else (1 if "runs" in tables else None)
        if version is not None and version > SCHEMA_VERSION:
            raise UserError(f"the results store {self.url} was written by a newer aibench (schema {version}; this "
                            f"one reads up to {SCHEMA_VERSION}): upgrade aibench to read it")
        if version == SCHEMA_VERSION:
            return
        for attempt in range(3):  # several processes may create a new store at once
            try:
                Base.metadata.create_all(self.engine)
                if version is not None and version < SCHEMA_VERSION:
                    self._add_missing_columns()
                with Session(self.engine) as session:
                    if session.get(SchemaInfo, SCHEMA_VERSION) is None:
                        session.add(SchemaInfo(version=SCHEMA_VERSION))
                        session.commit()
                return
            except (OperationalError, SQLAlchemyError):
                if attempt == 2:
                    raise
                version = self._version() if "aibench_schema" in inspect(self.engine).get_table_names() else version

    def _version(self) -> int:
        with Session(self.engine) as session:
            return max((v for v in session.scalars(select(SchemaInfo.version))), default=1)

    def _add_missing_columns(self) -> None:
        have = {c["name"] for c in inspect(self.engine).get_columns("runs")}
        with self.engine.begin() as conn:
            for name, kind in {**SCHEMA_2_COLUMNS, **SCHEMA_3_COLUMNS}.items():
                if name not in have:
                    conn.execute(text(f"ALTER TABLE runs ADD COLUMN {name} {kind}"))

    def add(self, **fields: Any) -> int:
        """Store one run; committed at once so a later crash or Ctrl-C loses nothing already stored."""
        fields = {k: _json_safe(v) for k, v in fields.items()}
        fields.setdefault("created_at", utcnow())
        with Session(self.engine) as session:
            record = RunRecord(**fields)
            session.add(record)
            session.commit()
            self.created.append(record.id)
            return record.id

    def start(self, **fields: Any) -> int:
        """A `running` row for a run that starts now in this process: host, process id and start time."""
        pid = os.getpid()
        return self.add(**fields, status="running", host=host_name(), pid=pid, process_start=process_start(pid),
                        heartbeat_at=utcnow())

    def update(self, record_id: int, **fields: Any) -> None:
        """Write part of a row (its curve so far, metrics); the heartbeat is refreshed with it."""
        fields = {k: _json_safe(v) for k, v in fields.items()}
        with Session(self.engine) as session:
            session.execute(update(RunRecord).where(RunRecord.id == record_id).values(**fields,
                                                                                     heartbeat_at=utcnow()))
            session.commit()

    def merge_metrics(self, record_id: int, **entries: Any) -> None:
        """Add entries to a row's metrics after it ended (a control trained beside the run), keeping the rest."""
        with Session(self.engine) as session:
            record = session.get(RunRecord, record_id)
            if record is None:
                raise KeyError(f"no record {record_id}")
            record.metrics = {**(record.metrics or {}), **_json_safe(entries)}
            session.commit()

    def heartbeat(self, record_id: int) -> None:
        self.update(record_id)

    def finish(self, record_id: int, status: str, strict: bool = True, **fields: Any) -> None:
        """The row's one final status, written only while it is still `running` (never twice: a second call
        raises, or with strict=False leaves the first)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"unknown final status {status!r}")
        fields = {k: _json_safe(v) for k, v in fields.items()}
        with Session(self.engine) as session:
            done = session.execute(update(RunRecord).where(RunRecord.id == record_id,
                                                           RunRecord.status == "running")
                                   .values(**fields, status=status, finished_at=utcnow(), heartbeat_at=utcnow()))
            session.commit()
        if strict and done.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"record {record_id} was already finalized")

    def mark_crashed(self) -> list[int]:
        """Store `crashed` for each `running` row whose process is gone; returns their ids (writers call this)."""
        now, ids = utcnow(), []
        with Session(self.engine) as session:
            for record in session.scalars(select(RunRecord).where(RunRecord.status == "running")):
                if record.gone(now):
                    ids.append(record.id)
            for record_id in ids:
                session.execute(update(RunRecord).where(RunRecord.id == record_id, RunRecord.status == "running")
                                .values(status="crashed", finished_at=now,
                                        message="the process ended without finishing the run (killed, out of "
                                                "memory or machine lost); the curve is what it stored so far"))
            session.commit()
        return ids

    def records(self, benchmark: str | None = None, mode: str | None = None,
                label: str | None = None) -> list[dict[str, Any]]:
        query = select(RunRecord).order_by(RunRecord.id)
        if benchmark:
            query = query.where(RunRecord.benchmark == benchmark)
        if mode:
            query = query.where(RunRecord.mode == mode)
        now = utcnow()
        with Session(self.engine) as session:
            rows = []
            for record in session.scalars(query):
                row = record.as_dict()
                if label is not None and row["label"] != label:  # old rows' labels are derived, not stored
                    continue
                if record.gone(now):  # shown as crashed at once; stored as such by the next writer
                    row["status"] = "crashed"
                rows.append(row)
            return rows


def _one_line(err: BaseException) -> str:
    text_ = str(getattr(err, "orig", None) or err).strip().splitlines()
    return text_[0] if text_ else type(err).__name__


def dumps(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, default=str)
