"""Resumable training checkpoints without pickle: tensors in safetensors, the rest in JSON.

A checkpoint holds the model tensors, the optimizers' state tensors (flattened keys
``opt.<name>.<param index>.<field>``), the torch RNG states (CPU, and the data-order generator)
as uint8 tensors, and the record (epoch, step, best score, history, optimizer hyper-parameters,
what the run is: data hash, seed, configs) as JSON in the safetensors header's metadata. It is
one file written by one atomic rename, so tensors and record can never disagree after a crash
(the record used to be a separate JSON file renamed after the tensors). Checkpoints of the old
two-file layout are still read.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import torch
from safetensors.torch import load_file, save_file

from aiva.utils import atomic_path


def optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"opt.{name}.{idx}.{k}"] = t.detach().cpu().contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def load_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    pre = f"opt.{name}."
    for key, v in tensors.items():
        if key.startswith(pre):
            idx, field = key[len(pre):].split(".", 1)
            state.setdefault(int(idx), {})[field] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


_META = "aiva_checkpoint"


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    path = Path(path)
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp), metadata={_META: json.dumps(meta)})
    old = path.with_suffix(".json")
    if old.exists():  # a record of the old layout would now be stale
        old.unlink()


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    from safetensors import safe_open

    from aiva.errors import AivaInputError

    path = Path(path)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not st.exists():
        return None
    try:
        with safe_open(str(st), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_META)
        tensors = load_file(str(st))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise AivaInputError(f"{st}: checkpoint cannot be read ({' '.join(str(exc).split())[:200]}); "
                             "start afresh with --no-resume") from None
    if raw is None:
        if not js.exists():
            return None
        raw = js.read_text()  # the old two-file layout
    try:
        return tensors, json.loads(raw)
    except json.JSONDecodeError:
        raise AivaInputError(f"{st}: checkpoint record is not valid JSON; start afresh with --no-resume") from None


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder for a training (``out/.aiva.lock``, ``flock``):
    a second training into the same folder is refused at once instead of interleaving writes.
    The lock goes with the process, so a killed run leaves no stale lock behind."""
    import fcntl

    from aiva.errors import AivaInputError

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / ".aiva.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise AivaInputError(f"--out {out}: another training is writing into this folder (it holds "
                             f"{out / '.aiva.lock'}); wait for it to finish or choose another --out") from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
