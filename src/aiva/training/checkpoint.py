"""Resumable training checkpoints without pickle: tensors in safetensors, the rest in JSON.

A checkpoint holds the model tensors, the optimizers' state tensors (flattened keys
``opt.<name>.<param index>.<field>``), the torch RNG states (CPU, and the data-order generator)
as uint8 tensors, and a JSON sidecar with scalars (epoch, step, best score, history,
optimizer hyper-parameters). Both files are written atomically.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from aiva.utils import atomic_path, atomic_write_text


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


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    path = Path(path)
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    path = Path(path)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not (st.exists() and js.exists()):
        return None
    return load_file(str(st)), json.loads(js.read_text())
