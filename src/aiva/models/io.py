"""Saving and loading generators: safetensors weights + a JSON model card.

``<stem>.safetensors`` holds the tensors (``generator.*``, ``ema.*``, ``discriminator.*`` for a GAN,
``flow.*`` for a flow, ``field.*`` for flow matching, ``m<k>.*`` for member k of a mixture),
``<stem>.json`` the model card: name, family, architecture config, the data it was trained on
(with SHA-256), training settings, metrics and the parent model. Nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from aiva.errors import AivaInputError
from aiva.models.cfm import CFMConfig, ConditionalCFM
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.models.mixture import MixtureConfig, MixtureModel
from aiva.utils import atomic_path, atomic_write_text

#: generative families behind one interface: family name -> (model class, config class)
FAMILIES = {"gan": (ConditionalGAN, GANConfig), "flow": (ConditionalFlow, FlowConfig),
            "cfm": (ConditionalCFM, CFMConfig)}
#: every kind of stored model: the trainable families and mixtures of their members
MODEL_KINDS = {**FAMILIES, "mixture": (MixtureModel, MixtureConfig)}

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model_state(model, tensors: dict[str, torch.Tensor], source: str = "") -> None:
    """Load tensors into a model of any family; a mismatch is a clear input error."""
    try:
        model.load_state(tensors)
    except RuntimeError as exc:
        raise AivaInputError(f"{source}: weights do not match the model card's architecture: {exc}") from None


def save_model(model, path: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Write ``path`` (.safetensors) and its card (.json) atomically; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    card = {**card, "family": getattr(model, "family", "gan"), "config": model.config.to_dict(),
            "format": "aiva-model-1"}
    with atomic_path(path) as tmp:
        save_file(model.state(), str(tmp))
    card["weights_sha256"] = sha256_file(path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name (``numu-C12-inclusive``) or a path to a .safetensors/.json file."""
    p = Path(name_or_path)
    for cand in (p, p.with_suffix(".safetensors"), MODELS_DIR / f"{name_or_path}.safetensors"):
        if cand.suffix == ".safetensors" and cand.exists():
            return cand
    shipped = ", ".join(sorted(x.stem for x in MODELS_DIR.glob("*.safetensors"))) or "none"
    raise AivaInputError(f"no model {str(name_or_path)!r} (not a file; shipped models: {shipped})")


def read_card(weights: Path) -> dict:
    cpath = weights.with_suffix(".json")
    if not cpath.exists():
        raise AivaInputError(f"{weights}: model card {cpath.name} is missing")
    try:
        return json.loads(cpath.read_text())
    except json.JSONDecodeError as exc:
        raise AivaInputError(f"{cpath}: model card is not valid JSON ({exc})") from None


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Load a generator (any family) and its card. The weights' SHA-256 must match the card."""
    weights = resolve(name_or_path)
    card = read_card(weights)
    if card.get("family") not in MODEL_KINDS:
        raise AivaInputError(f"{weights}: unknown model family {card.get('family')!r} (known: {', '.join(MODEL_KINDS)})")
    if card.get("weights_sha256") and card["weights_sha256"] != sha256_file(weights):
        raise AivaInputError(f"{weights}: weights do not match the SHA-256 in the model card (corrupt or edited)")
    cls, cfg = MODEL_KINDS[card["family"]]
    model = cls(cfg.from_dict(card["config"]))
    load_model_state(model, load_file(str(weights)), str(weights))
    model.to(device)
    return model, card


def list_shipped() -> list[dict]:
    """Cards of the pretrained models shipped in the package."""
    cards = []
    for w in sorted(MODELS_DIR.glob("*.safetensors")):
        card = read_card(w)
        card["_size_bytes"] = w.stat().st_size
        cards.append(card)
    return cards


#: the quality bar of the conditional-GAN issue, against 10⁶ fresh reference events per test energy
QUALITY_BAR = {"max_MAP": 1.5, "mean_MAP": 1.2, "max_C2ST_AUC": 0.60}


def meets_quality_bar(card: dict) -> bool:
    ev = card.get("metrics", {}).get("evaluation") or {}
    return all(ev.get(k) is not None and ev[k] <= v for k, v in QUALITY_BAR.items())


def default_model(probe: str = "numu", target: str = "C12", mode_code: int = 0) -> tuple[str, str]:
    """The shipped generator used when none is named: among the shipped models of this probe,
    target and sample (``mode_code`` 0 inclusive, 1 QE) that were evaluated, the fastest
    (``metrics.speed.one_thread_s``, 10⁶ events on one thread) of those meeting
    :data:`QUALITY_BAR`; if none meets it, the one with the lowest mean MAP. Returns (name, why)."""
    cards = [c for c in list_shipped() if c.get("probe") == probe and c.get("target") == target
             and c.get("mode_code", 0) == mode_code and (c.get("metrics", {}).get("evaluation") or {}).get("mean_MAP")]
    if not cards:
        raise AivaInputError(f"no evaluated shipped generator for {probe} on {target}; name one with --model")
    good = [c for c in cards if meets_quality_bar(c)]
    if good:
        best = min(good, key=lambda c: (c.get("metrics", {}).get("speed") or {}).get("one_thread_s", float("inf")))
        return best["name"], "the fastest shipped generator meeting the quality bar"
    best = min(cards, key=lambda c: c["metrics"]["evaluation"]["mean_MAP"])
    return best["name"], "no shipped generator meets the quality bar; the one with the lowest mean MAP"
