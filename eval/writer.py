"""A run folder being written (layout in :mod:`eval.store`): ``run.json`` with its status,
heartbeat and provenance, one fsynced ``rows.jsonl`` line per scored (method, image), the output
PNGs, and ``per_image.csv`` / ``summary.csv`` when the run ends."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bokeh.imaging import save_png
from eval.plan import RunPlan, Unit
from eval.provenance import environment, weights_info
from eval.store import (
    FORMAT_VERSION,
    HEARTBEAT_EVERY_S,
    atomic_write,
    load_rows,
    new_run_id,
    now_utc,
    proc_start,
    read_rows,
    repair_rows,
    slug,
    summarize,
    write_error,
    write_json,
)


def all_weights(plan: RunPlan) -> dict:
    """Which weights each unit of ``plan`` uses (:func:`eval.provenance.weights_info`)."""
    out = {}
    for u in plan.units:
        if u.depth == "item" and not u.oracle:
            out[u.label] = {"summary": "the dataset's depth (no weights)"}
            continue
        settings = dict(plan.settings.get(u.method, {}))
        if u.depth not in (None, "item"):
            settings["depth_source"] = u.depth
        out[u.label] = weights_info(u.method, u.oracle, settings)
    return out


def finalise(run_dir: Path, meta: dict) -> None:
    """Write ``per_image.csv`` (rows in label, then image order) and ``summary.csv``."""
    rows = load_rows(run_dir)
    order = {label: k for k, label in enumerate(meta.get("labels") or [])}
    ids = {i: k for k, i in enumerate(meta.get("ids") or [])}
    if len(rows):
        rows = rows.assign(_m=rows["method"].map(order).fillna(len(order)),
                           _i=rows["id"].map(ids).fillna(len(ids)))  # fmt: skip
        rows = rows.sort_values(["_m", "_i"], kind="stable").drop(columns=["_m", "_i"])
    for name, frame in (("per_image.csv", rows), ("summary.csv", summarize(rows, meta))):
        buf = io.StringIO()
        frame.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        atomic_write(run_dir / name, buf.getvalue())


class RunWriter:
    """Opens (or reopens, to resume) the run folder of a plan and writes it as the run goes."""

    def __init__(self, plan: RunPlan, rdir: Path) -> None:
        self.plan, self.rdir = plan, Path(rdir)
        self.closed = False
        self._last_beat = time.monotonic()
        try:
            self.run_dir, self.meta = self._start()
            self.rows_path = self.run_dir / "rows.jsonl"
            self._rows = open(self.rows_path, "a", encoding="utf-8")  # noqa: SIM115 (close())
        except OSError as exc:
            raise write_error(self.rdir, exc) from None
        self.done_pairs = {(r.get("method"), str(r.get("id"))) for r in read_rows(self.rows_path)}

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def _start(self) -> tuple[Path, dict]:
        plan, env = self.plan, environment()
        if plan.resumed is not None:  # keep the start's provenance; record each resume's beside it
            run_dir, meta = Path(plan.resumed.path), dict(plan.resumed.meta)
            repair_rows(run_dir / "rows.jsonl")
            meta.setdefault("resumed", []).append({"at": now_utc(), **env})
            meta["host"] = env["host"]
        else:
            run_id = new_run_id()
            run_dir = self.rdir / "runs" / run_id
            run_dir.mkdir(parents=True)
            data = plan.data
            meta = {
                "format_version": FORMAT_VERSION, "run_id": run_id,
                "dataset": data.name, "split": plan.split, "dataset_root": str(data.root or ""),
                "dataset_info": data.provenance, "n_images": data.provenance.get("n_images"),
                "limit": plan.limit, "n_selected": len(data), "ids": data.ids,
                "methods": plan.methods, "labels": plan.labels, "settings": plan.settings,
                "started_at": now_utc(), **env,
            }  # fmt: skip
        meta["weights"] = all_weights(plan)
        meta.update(status="running", pid=os.getpid(), pid_start=proc_start(os.getpid()),
                    heartbeat=now_utc(), ended_at=None, error=None)  # fmt: skip
        write_json(run_dir / "run.json", meta)
        return run_dir, meta

    def is_done(self, unit: Unit, item_id: str) -> bool:
        return (unit.label, item_id) in self.done_pairs

    def write(self, unit: Unit, item, fields: dict[str, Any], pred: np.ndarray | None, *,
              focus: tuple[float, float] | None) -> dict:  # fmt: skip
        """Save the output PNG and append the row (fsynced); returns the row."""
        try:
            out_rel = None
            if pred is not None:
                out_rel = f"outputs/{slug(unit.label)}/{slug(item.id)}.png"
                save_png(pred, self.run_dir / out_rel, compress_level=3)
            row = {
                "run_id": self.run_id, "dataset": self.plan.data.name, "split": self.plan.split,
                "id": item.id, "method": unit.label, "base_method": unit.method,
                "oracle": unit.oracle, **fields, "output": out_rel,
                "input_path": str(item.input_path or ""), "gt_path": str(item.gt_path or ""),
                "focus": None if focus is None else [round(float(v), 3) for v in focus],
                "focus_source": getattr(item, "focus_source", None),
            }  # fmt: skip
            self._rows.write(json.dumps(row) + "\n")
            self._rows.flush()
            os.fsync(self._rows.fileno())
        except OSError as exc:
            raise write_error(self.run_dir, exc) from None
        self.done_pairs.add((unit.label, item.id))
        self._heartbeat()
        return row

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY_S:
            self._last_beat = time.monotonic()
            self.meta["heartbeat"] = now_utc()
            with contextlib.suppress(OSError):
                write_json(self.run_dir / "run.json", self.meta)

    def close(self, status: str, error: str | None = None) -> None:
        """Record the final status, write the CSVs (once; best effort)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self._rows.close()
        if status != "failed":
            with contextlib.suppress(Exception):  # weights fetched during the run
                self.meta["weights"] = all_weights(self.plan)
        if error is not None:
            self.meta["error"] = error
        self.meta.update(status=status, ended_at=now_utc(), heartbeat=now_utc())
        try:
            finalise(self.run_dir, self.meta)
        except Exception as exc:  # the status below is recorded whatever happens here
            warnings.warn(f"{self.run_dir}: the CSV summaries were not written ({exc!r})",
                          stacklevel=2)  # fmt: skip
        with contextlib.suppress(OSError):
            write_json(self.run_dir / "run.json", self.meta)


__all__ = ["RunWriter", "all_weights", "finalise"]
