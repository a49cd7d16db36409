"""Saving and loading generators: safetensors weights + a JSON model card.

``<stem>.safetensors`` holds the tensors (``generator.*``, ``ema.*``, ``discriminator.*`` for a GAN,
``flow.*`` for a flow, ``field.*`` for flow matching, ``m<k>.*`` for member k of a mixture),
``<stem>.json`` the model card: name, family, architecture config, the data it was trained on
(with SHA-256), training settings, metrics and the parent model. Nothing is unpickled.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from aiva.errors import AivaInputError
from aiva.models.artefact import (
    read_card,
    resolve_artefact,
    safetensors_header,
    sha256_file,
    verify_artefact,
    write_artefact,
)
from aiva.models.families import FAMILIES
from aiva.models.mixture import MixtureConfig, MixtureModel

__all__ = ["FAMILIES", "MODEL_KINDS", "load_model", "mix_files", "read_card", "resolve", "safetensors_header",
           "save_model", "sha256_file", "storage_dtype", "store_as"]

#: every kind of stored model: the trainable families and mixtures of their members
MODEL_KINDS: dict[str, tuple[Any, type]] = {**FAMILIES, "mixture": (MixtureModel, MixtureConfig)}

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"

#: how a generator's floating-point tensors may be stored (card key ``dtype``, default float32);
#: float16 halves the file, and the weights are widened back to float32 on load (exactly: every
#: float16 is a float32), so the stored float16 numbers *are* the model that was evaluated
STORAGE_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16}


def storage_dtype(card: dict, cpath: Path | str = "model card") -> torch.dtype:
    """The dtype a card declares for its stored floating-point tensors (key ``dtype``)."""
    name = card.get("dtype", "float32")
    if name not in STORAGE_DTYPES:
        raise AivaInputError(f"{cpath}: key 'dtype': {name!r} is not one of {', '.join(STORAGE_DTYPES)}")
    return STORAGE_DTYPES[name]




def load_model_state(model, tensors: dict[str, torch.Tensor], source: str = "") -> None:
    """Load tensors into a model of any family; a mismatch is a clear input error."""
    try:
        model.load_state(tensors)
    except RuntimeError as exc:
        raise AivaInputError(f"{source}: weights do not match the model card's architecture: {exc}") from None


def save_model(model, path: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Write ``path`` (.safetensors) and its card (.json) atomically (:func:`write_artefact`)."""
    card = {**{k: v for k, v in card.items() if k not in _STORAGE_KEYS}, "family": getattr(model, "family", "gan"),
            "config": model.config.to_dict(), "format": "aiva-model-1"}
    return write_artefact(path, model.state(), card)  # float32 with every tensor: not a parent's storage


#: card keys that describe how one file is stored (:func:`store_as`), not the model; a model
#: written by :func:`save_model` (e.g. a fine-tune of a compactly stored parent) drops them
_STORAGE_KEYS = ("dtype", "omit_masks", "stored_from")


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name (``numu-C12-inclusive``) or a path to a .safetensors/.json file."""
    return resolve_artefact(name_or_path, [MODELS_DIR])








_TORCH_ST = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
             torch.bool: "BOOL"}


def check_card(card: Any, cpath: Path) -> dict:
    """The model card's schema: a table with a string name, a known family, a config table and,
    when present, a valid trained energy range, target and probe."""
    if not isinstance(card, dict):
        raise AivaInputError(f"{cpath}: model card must be a JSON object, got {type(card).__name__}")
    for key, kind in (("name", str), ("family", str), ("config", dict)):
        if key not in card:
            raise AivaInputError(f"{cpath}: model card lacks key '{key}'")
        if not isinstance(card[key], kind):
            raise AivaInputError(f"{cpath}: key '{key}': expected {'a string' if kind is str else 'a table'}, "
                                 f"got {type(card[key]).__name__}")
    if card["family"] not in MODEL_KINDS:
        raise AivaInputError(f"{cpath}: key 'family': unknown model family {card['family']!r} "
                             f"(known: {', '.join(MODEL_KINDS)})")
    rng = card.get("energy_range_GeV")
    if rng is not None:
        ok = isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                             and np.isfinite(x) for x in rng)
        if not ok or not 0 < rng[0] < rng[1]:
            raise AivaInputError(f"{cpath}: key 'energy_range_GeV': need [EMIN, EMAX] with 0 < EMIN < EMAX, "
                                 f"got {rng!r}")
    from aiva.physics.targets import get_probe, get_target

    for key, getter in (("target", get_target), ("probe", get_probe)):
        if key in card:
            if not isinstance(card[key], str):
                raise AivaInputError(f"{cpath}: key '{key}': expected a string, got {type(card[key]).__name__}")
            try:
                getter(card[key])
            except AivaInputError as exc:
                raise AivaInputError(f"{cpath}: key '{key}': {exc}") from None
    return card


def _check_against_model(model, header: dict, weights: Path, stored: torch.dtype = torch.float32,
                         omit_masks: bool = False) -> None:
    def dtype(v: torch.Tensor) -> str:
        return _TORCH_ST.get(stored if v.dtype == torch.float32 else v.dtype, str(v.dtype))

    state = model.state()
    omitted = set(_masks(state)) if omit_masks else set()
    want = {k: (dtype(v), tuple(v.shape)) for k, v in state.items() if k not in omitted}
    missing = sorted(set(want) - set(header))
    extra = sorted(set(header) - set(want))
    bad = sorted(k for k in set(want) & set(header) if want[k] != header[k])
    if missing or extra or bad:
        parts = []
        if missing:
            import re

            m = re.match(r"m(\d+)\.", missing[0])  # a mixture's member k has the prefix m<k>.
            parts.append(f"{len(missing)} missing (e.g. {missing[0]}" + (f", of member {m.group(1)})" if m else ")"))
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if bad:
            k = bad[0]
            parts.append(f"{len(bad)} of another shape or dtype (e.g. {k}: file {header[k][0]} {list(header[k][1])}, "
                         f"card's architecture {want[k][0]} {list(want[k][1])})")
        raise AivaInputError(f"{weights}: weights do not match the model card's architecture: tensors "
                             + "; ".join(parts))


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Load a generator (any family) and its card, validated before anything is loaded: the
    card's schema and config types, the weights' SHA-256 against the card, the safetensors
    header's names, dtypes and shapes against the card's architecture; then no NaN/inf."""
    weights = resolve(name_or_path)
    cpath = weights.with_suffix(".json")
    card = check_card(read_card(weights), cpath)
    header = verify_artefact(weights, card)
    cls, cfg = MODEL_KINDS[card["family"]]
    try:
        config = cfg.from_dict(card["config"])  # type: ignore[attr-defined]
        model = cls(config)
    except AivaInputError as exc:
        raise AivaInputError(f"{cpath}: key 'config': {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise AivaInputError(f"{cpath}: key 'config': cannot build the {card['family']} network ({exc})") from None
    stored = storage_dtype(card, cpath)
    omit = card.get("omit_masks", False)
    if not isinstance(omit, bool):
        raise AivaInputError(f"{cpath}: key 'omit_masks': expected true or false, got {omit!r}")
    _check_against_model(model, header, weights, stored, omit)
    tensors = load_file(str(weights))
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise AivaInputError(f"{weights}: {len(bad)} tensor(s) hold NaN or infinite values (e.g. {bad[0]})")
    if stored != torch.float32:
        tensors = {k: v.float() if v.dtype == stored else v for k, v in tensors.items()}
    if omit:  # the architecture's own masks (store_as checked that they are the stored ones)
        state = model.state()
        tensors.update({k: state[k] for k in _masks(state)})
    load_model_state(model, tensors, str(weights))
    model.to(device)
    return model, card


def _masks(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the boolean autoregressive masks (``*.mask``) of a network's state."""
    return sorted(k for k, v in state.items() if v.dtype == torch.bool and k.endswith(".mask"))


def store_as(weights, out, dtype: str = "float16", omit_masks: bool = True):
    """Rewrite the generator ``weights`` (a path or shipped name) compactly into ``out``: its
    float32 tensors stored as ``dtype`` (:data:`STORAGE_DTYPES`) and, with ``omit_masks``, its
    autoregressive masks left out (they are a function of the architecture: the network built
    from the card's config reproduces them, which is checked here with two different torch
    seeds). The card gains ``dtype``, ``omit_masks`` and ``stored_from`` (the original file's
    SHA-256). Refuses values that ``dtype`` cannot hold. Returns the new weights path; evaluate
    that file, not the original."""
    src = resolve(weights)
    net, card = load_model(src)
    target = STORAGE_DTYPES.get(dtype)
    if target is None:
        raise AivaInputError(f"storage dtype {dtype!r} is not one of {', '.join(STORAGE_DTYPES)}")
    state = {k: (v.to(target) if v.dtype == torch.float32 else v) for k, v in net.state().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise AivaInputError(f"{src}: {len(bad)} tensor(s) overflow {dtype} (e.g. {bad[0]})")
    if omit_masks:
        cls, cfg = MODEL_KINDS[card["family"]]
        fresh = []
        for seed in (0, 12345):
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                fresh.append(cls(cfg.from_dict(card["config"])).state())  # type: ignore[attr-defined]
        masks = _masks(state)
        if any(not (torch.equal(state[k], f[k])) for f in fresh for k in masks):
            raise AivaInputError(f"{src}: its masks are not reproduced by its architecture; store them")
        state = {k: v for k, v in state.items() if k not in masks}
    source = {"weights_sha256": sha256_file(src), "dtype": card.get("dtype", "float32"),
              "omit_masks": card.get("omit_masks", False)}  # as that file was stored
    card = {k: v for k, v in card.items() if k not in ("weights_sha256", "stored_from")}
    card.update({"dtype": dtype, "omit_masks": bool(omit_masks), "stored_from": source})
    return write_artefact(out, state, card)


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
#: the bar of the default generator (issue #26): the quality of the 60-minute flow it replaced
#: (mean MAP 1.033, C2ST AUC at most 0.508 at 10⁶ vs 10⁶ events), with room for the sampling error
DEFAULT_BAR = {"max_MAP": 1.5, "mean_MAP": 1.05, "max_C2ST_AUC": 0.52}


def meets_quality_bar(card: dict, bar: dict | None = None) -> bool:
    """Whether the card's ``metrics.evaluation`` is within ``bar`` (default :data:`QUALITY_BAR`)."""
    ev = card.get("metrics", {}).get("evaluation") or {}
    return all(ev.get(k) is not None and ev[k] <= v for k, v in (bar or QUALITY_BAR).items())


def default_model(probe: str = "numu", target: str = "C12", mode_code: int = 0) -> tuple[str, str]:
    """The shipped generator used when none is named — the one place that says what "default"
    means. Among the shipped models of this probe, target and sample (``mode_code`` 0 inclusive,
    1 QE) that were evaluated: the fastest (``metrics.speed.one_thread_s``, 10⁶ events on one
    thread) of those meeting :data:`DEFAULT_BAR`; else the fastest meeting :data:`QUALITY_BAR`;
    else the one with the lowest mean MAP. Returns (name, why)."""
    cards = [c for c in list_shipped() if c.get("probe") == probe and c.get("target") == target
             and c.get("mode_code", 0) == mode_code and (c.get("metrics", {}).get("evaluation") or {}).get("mean_MAP")]
    if not cards:
        raise AivaInputError(f"no evaluated shipped generator for {probe} on {target}; name one with --model")

    def speed(c: dict) -> float:
        return (c.get("metrics", {}).get("speed") or {}).get("one_thread_s", float("inf"))

    for bar, why in ((DEFAULT_BAR, "the fastest shipped generator meeting the default bar"),
                     (QUALITY_BAR, "the fastest shipped generator meeting the quality bar")):
        good = [c for c in cards if meets_quality_bar(c, bar)]
        if good:
            return min(good, key=speed)["name"], why
    best = min(cards, key=lambda c: c["metrics"]["evaluation"]["mean_MAP"])
    return best["name"], "no shipped generator meets the quality bar; the one with the lowest mean MAP"


def mix_files(models: list, out, name: str | None = None, extra: dict | None = None):
    """``aiva mix``: load the generators ``models`` (shipped names or .safetensors paths; at least
    2, one family, configuration, target, probe, sample and energy range), write their
    equal-weight mixture to ``out`` (.safetensors + .json card) and return its path. The card
    lists every member (:func:`mix_models`); ``training.mixed_from`` records each member's file,
    learning rate, seed and weights SHA-256; ``extra`` is merged into the card."""
    from pathlib import Path

    from aiva.models.mixture import mix_models

    if len(models) < 2:
        raise AivaInputError(f"a mixture needs at least 2 members, got {len(models)}")
    paths = [resolve(m) for m in models]  # a missing file is an input error naming it
    loaded = [load_model(p) for p in paths]
    for p, (_, card) in zip(paths, loaded):
        if card.get("family") == "mixture":
            raise AivaInputError(f"{p}: is itself a mixture; mix its members instead")
    out = Path(out).with_suffix(".safetensors")
    mix, card = mix_models([m for m, _ in loaded], [c for _, c in loaded], name or out.stem)
    tcs = [(c.get("training", {}).get("train_config") or {}) for _, c in loaded]
    card["training"] = {**card.get("training", {}),
                        "mixed_from": [{"file": str(p), "lr": t.get("lr"), "seed": t.get("seed"),
                                        "weights_sha256": c.get("weights_sha256")}
                                       for p, t, (_, c) in zip(paths, tcs, loaded)]}
    card.update(extra or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_model(mix, out, card)
