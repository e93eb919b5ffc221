"""`aibench run --nproc N`: start N training processes on this machine with torchrun's own launcher.

The launching process does no training. It prepares the data once, hands the same command line (less `--nproc`)
to `torch.distributed.run`, waits, and, when a rank dies, ends that launch's records as `error` naming the rank:
torchrun stops the other ranks with SIGTERM, and those leave their record to this process to finalize.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

LAUNCH_ENV = "AIBENCH_LAUNCH_ID"  # set for the launched processes, so their records name their launch


class StoppedByLauncher(BaseException):
    """SIGTERM in a launched rank: torchrun stops the ranks because another one failed (or the launch was
    stopped); the launching process knows which and finalizes the record. A BaseException, so the training loop
    does not take it for the run's own failure."""


def launched_id() -> str | None:
    return os.environ.get(LAUNCH_ENV)


def strip_nproc(argv: list[str]) -> list[str]:
    """The command line without `--nproc N` / `--nproc=N`, for the launched processes."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: list[str]) -> tuple[str, str | None]:
    """Run `python -m aibench.cli ARGV` on `nproc` processes (torchrun, standalone rendezvous on this machine);
    returns the launch id and, when a rank failed, a line naming it (None when all ended well)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    launch_id = uuid.uuid4().hex[:12]
    os.environ[LAUNCH_ENV] = launch_id
    args = parse_args(["--standalone", "--nnodes=1", f"--nproc-per-node={nproc}", "--max-restarts=0",
                       "--module", "aibench.cli", *strip_nproc(argv)])
    try:
        run(args)
    except ChildFailedError as err:
        return launch_id, describe_failure(err.failures, nproc)
    finally:
        os.environ.pop(LAUNCH_ENV, None)
    return launch_id, None


PEER_LOST_EXIT = 75  # a rank whose run failed because another rank went away: a consequence, not the cause


def is_peer_loss(message: str) -> bool:
    """Whether a run's error is a collective that lost its peer (gloo, NCCL), i.e. another rank failed first."""
    return any(sign in message for sign in ("by peer", "DistBackendError", "NCCL communicator", "Connection reset"))


def describe_failure(failures: dict[int, Any], nproc: int) -> str:
    """The rank that failed first, as one line: ranks stopped by torchrun (SIGTERM) or failing because a peer
    went away (PEER_LOST_EXIT) are consequences, so the cause is looked for among the others first."""
    def order(rank: int) -> tuple[bool, float, int]:
        code = getattr(failures[rank], "exitcode", None)
        return code in (-15, PEER_LOST_EXIT), getattr(failures[rank], "timestamp", 0) or 0, rank

    rank = min(failures, key=order)
    failure = failures[rank]
    code = getattr(failure, "exitcode", None)
    how = f"killed by signal {-code}" if isinstance(code, int) and code < 0 else f"exit code {code}"
    return f"rank {rank} of {nproc} failed ({how})"


def finalize_launch(store: Any, launch_id: str, failure: str | None) -> list[dict[str, Any]]:
    """This launch's records, with those its ranks left `running` ended as `error` naming the failed rank, and
    an `error` record's message prefixed with it (its status stays the one it was given)."""
    mine = [r for r in store.records() if (r["config"].get("distributed") or {}).get("launch_id") == launch_id]
    for record in mine:
        if record["status"] in ("running", "crashed"):
            store.finish(record["id"], "error", strict=False,
                         message=failure or "the launched processes ended without finishing this run")
        elif record["status"] == "error" and failure and failure not in (record["message"] or ""):
            store.update(record["id"], message=f"{failure}: {record['message']}")
    return [r for r in store.records() if r["id"] in {m["id"] for m in mine}]
