"""The results store: one row per run, SQLAlchemy over SQLite by default (any SQLAlchemy URL works)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

DEFAULT_DIR = Path("aibench-results")
DEFAULT_URL = f"sqlite:///{DEFAULT_DIR / 'results.sqlite'}"

STATUSES = ("success", "target_missed", "diverged", "aborted", "completed", "error", "smoke")


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
        }


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


class ResultStore:
    def __init__(self, url: str = DEFAULT_URL) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url)
        Base.metadata.create_all(self.engine)

    def add(self, **fields: Any) -> int:
        """Store one run; committed at once so a later crash or Ctrl-C loses nothing already stored."""
        fields = {k: _json_safe(v) for k, v in fields.items()}
        fields.setdefault("created_at", dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        with Session(self.engine) as session:
            record = RunRecord(**fields)
            session.add(record)
            session.commit()
            return record.id

    def records(self, benchmark: str | None = None, mode: str | None = None) -> list[dict[str, Any]]:
        query = select(RunRecord).order_by(RunRecord.id)
        if benchmark:
            query = query.where(RunRecord.benchmark == benchmark)
        if mode:
            query = query.where(RunRecord.mode == mode)
        with Session(self.engine) as session:
            return [r.as_dict() for r in session.scalars(query)]


def dumps(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, default=str)
