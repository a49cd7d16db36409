"""Saving/loading cross-section models: safetensors (float32 or float16) + JSON card."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from aiva.errors import AivaInputError
from aiva.escat.fit import XsecModel
from aiva.escat.model import ESConfig, EnsembleNet
from aiva.models.artefact import read_card, resolve_artefact, verify_artefact, write_artefact

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
    card = {**m.card, **(extra or {}), "family": "escat", "A": m.A, "target": m.target, "datasets": m.datasets,
            "domain": m.domain, "dtype": "float16" if half else "float32", "format": "aiva-escat-1"}
    if half:  # compact shipped cards: no per-epoch history
        card.pop("history", None)
    return write_artefact(path, tensors, card, indent=1)  # the one artefact format, with the weights' SHA-256


def resolve_xsec_model(name_or_path) -> Path:
    """A path, or a shipped name with or without the ``escat-`` prefix."""
    return resolve_artefact(name_or_path, [MODELS_DIR], prefixes=("", "escat-"), what="electron-scattering model")


def load_xsec_model(name_or_path) -> XsecModel:
    w = resolve_xsec_model(name_or_path)
    cpath = w.with_suffix(".json")
    card = read_card(w)
    if not isinstance(card, dict):
        raise AivaInputError(f"{cpath}: model card must be a JSON object, got {type(card).__name__}")
    verify_artefact(w, card)  # pickles, truncated or edited files are refused before loading
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
