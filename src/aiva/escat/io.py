"""Saving/loading cross-section models: safetensors (float32 or float16) + JSON card."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from aiva.errors import AivaInputError
from aiva.escat.fit import XsecModel
from aiva.escat.model import ESConfig, EnsembleNet
from aiva.utils import atomic_path, atomic_write_text

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models" / "escat"


def save_xsec_model(m: XsecModel, path: str | os.PathLike, *, half: bool = False, extra: dict | None = None) -> Path:
    path = Path(path).with_suffix(".safetensors")
    tensors = {}
    for k, v in m.net.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point() and "running" not in k:
            v = v.half()
        tensors[f"net.{k}"] = v.contiguous()
    tensors["lambda"] = torch.as_tensor(m.lam, dtype=torch.float64)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    card = {**m.card, **(extra or {}), "family": "escat", "A": m.A, "target": m.target, "datasets": m.datasets,
            "domain": m.domain, "dtype": "float16" if half else "float32", "format": "aiva-escat-1"}
    if half:  # compact shipped cards: no per-epoch history
        card.pop("history", None)
    atomic_write_text(path.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
    return path


def resolve_xsec_model(name_or_path) -> Path:
    p = Path(name_or_path)
    for cand in (p, p.with_suffix(".safetensors"), MODELS_DIR / f"{name_or_path}.safetensors",
                 MODELS_DIR / f"escat-{name_or_path}.safetensors"):
        if cand.suffix == ".safetensors" and cand.exists():
            return cand
    shipped = ", ".join(sorted(x.stem for x in MODELS_DIR.glob("*.safetensors"))) or "none"
    raise AivaInputError(f"no electron-scattering model {str(name_or_path)!r} (shipped: {shipped})")


def load_xsec_model(name_or_path) -> XsecModel:
    from aiva.models.io import read_card, safetensors_header

    w = resolve_xsec_model(name_or_path)
    cpath = w.with_suffix(".json")
    card = read_card(w)
    safetensors_header(w)  # a pickle, a truncated or a foreign file is refused before loading
    if not isinstance(card, dict):
        raise AivaInputError(f"{cpath}: model card must be a JSON object, got {type(card).__name__}")
    for key in ("config", "members", "A", "target", "datasets", "domain"):
        if key not in card:
            raise AivaInputError(f"{cpath}: electron-scattering model card lacks key '{key}'")
    try:
        net = EnsembleNet(ESConfig.from_dict(card["config"]), card["members"])
    except (AivaInputError, TypeError, ValueError) as exc:
        raise AivaInputError(f"{cpath}: key 'config'/'members': {exc}") from None
    t = load_file(str(w))
    if "lambda" not in t:
        raise AivaInputError(f"{w}: tensor 'lambda' (data-set normalisations) is missing")
    sd = {k[4:]: v.float() if v.is_floating_point() else v for k, v in t.items() if k.startswith("net.")}
    try:
        net.load_state_dict(sd)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:240]
        raise AivaInputError(f"{w}: weights do not match the card's architecture ({first} ...)") from None
    net.eval()
    Z = card.get("Z")
    return XsecModel(net, int(card["A"]), card["target"], list(card["datasets"]), t["lambda"].numpy().astype(np.float64),
                     card["domain"], card, int(Z) if isinstance(Z, (int, float)) and Z else None)
