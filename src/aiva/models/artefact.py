"""One artefact format for every kind of model (generators, mixtures, electron-scattering
ensembles): ``<stem>.safetensors`` (tensors only; nothing is ever unpickled) beside
``<stem>.json`` (the card), the card written last and carrying the SHA-256 of the weights, and
one resolver of shipped names. The registry tells the kinds apart by the card (:func:`kind`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from aiva.errors import AivaInputError
from aiva.utils import atomic_path, atomic_write_text

#: the package's folder of shipped artefacts (generators here, electron-scattering models in escat/)
ARTEFACTS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(weights: Path) -> dict:
    cpath = weights.with_suffix(".json")
    if not cpath.exists():
        raise AivaInputError(f"{weights}: model card {cpath.name} is missing")
    try:
        return json.loads(cpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AivaInputError(f"{cpath}: model card is not valid JSON ({exc})") from None
    except OSError as exc:
        raise AivaInputError(f"{cpath}: model card cannot be read ({exc.strerror})") from None


#: bytes per element of the safetensors dtypes aiva writes or could meet
_ST_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{tensor name: (dtype, shape)} from a safetensors file's header, checked against the file
    size, without loading any tensor. Pickles and torch zip archives are named and refused (aiva
    never unpickles). Format: 8-byte little-endian header length N, N bytes of JSON, the data."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if size == 0:
                raise AivaInputError(f"{path}: weights file is empty (0 bytes)")
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            brace = fh.read(1) == b"{"
            fh.seek(8)
            # a safetensors header (length, then a JSON object) first: its length's low byte may
            # be 0x80 or 0x50 like a pickle's or a zip's magic
            plausible = brace and 0 < n <= size - 8
            if not plausible and head[:2] == b"PK":
                raise AivaInputError(f"{path}: a zip archive (torch.save?), not safetensors; aiva loads no pickled code")
            if not plausible and head[:1] == b"\x80":
                raise AivaInputError(f"{path}: a Python pickle, not safetensors; aiva loads no pickled code")
            if not 0 < n <= size - 8:
                raise AivaInputError(f"{path}: not a safetensors file, or truncated (header length {n}, file size "
                                     f"{size} bytes)")
            raw = fh.read(n)
    except OSError as exc:
        raise AivaInputError(f"{path}: weights cannot be read ({exc.strerror})") from None
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AivaInputError(f"{path}: safetensors header is not valid JSON (corrupt file)") from None
    if not isinstance(header, dict):
        raise AivaInputError(f"{path}: safetensors header is not a table (corrupt file)")
    out, end = {}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (a, b) = info["dtype"], tuple(int(x) for x in info["shape"]), info["data_offsets"]
            nbytes = _ST_DTYPES[dtype] * int(np.prod(shape, dtype=np.int64))
        except (KeyError, TypeError, ValueError):
            raise AivaInputError(f"{path}: tensor {name!r}: malformed safetensors entry") from None
        if b - a != nbytes or a < 0:
            raise AivaInputError(f"{path}: tensor {name!r}: {b - a} bytes for {dtype} {list(shape)} (corrupt file)")
        out[name] = (dtype, shape)
        end = max(end, b)
    if 8 + n + end != size:
        raise AivaInputError(f"{path}: file has {size} bytes but its header describes {8 + n + end} (truncated?)")
    return out


def write_artefact(path: str | os.PathLike, tensors: dict, card: dict[str, Any], *, indent: int = 2) -> Path:
    """Write the tensors (atomically), then the card with their SHA-256 (atomically, last: a card
    never describes weights that are not there). Returns the weights path."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    card = {**card, "weights_sha256": sha256_file(path)}
    atomic_write_text(path.with_suffix(".json"), json.dumps(card, indent=indent, sort_keys=False) + "\n")
    return path


def resolve_artefact(name_or_path: str | os.PathLike, folders: list[Path], prefixes: tuple[str, ...] = ("",),
                     what: str = "model") -> Path:
    """A path to a ``.safetensors`` (or its card), or a shipped name in ``folders`` (tried with
    each of ``prefixes``); a miss names what is shipped."""
    p = Path(name_or_path)
    cands = [p, p.with_suffix(".safetensors")] + [d / f"{pre}{name_or_path}.safetensors" for d in folders
                                                 for pre in prefixes]
    for cand in cands:
        if cand.suffix == ".safetensors" and cand.exists():
            return cand
    shipped = ", ".join(sorted(x.stem for d in folders for x in d.glob("*.safetensors"))) or "none"
    raise AivaInputError(f"no {what} {str(name_or_path)!r} (not a file; shipped: {shipped})")


def verify_artefact(weights: Path, card: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Check an artefact before loading it: the safetensors header against the file size (and
    refuse pickles), and the weights' SHA-256 against the card when the card records one."""
    header = safetensors_header(weights)
    if card.get("weights_sha256") and card["weights_sha256"] != sha256_file(weights):
        raise AivaInputError(f"{weights}: weights do not match the SHA-256 in the model card (corrupt or edited)")
    return header


def kind(card: dict) -> str:
    """``escat`` for electron-scattering ensembles, ``generator`` for event generators (and mixtures)."""
    return "escat" if isinstance(card, dict) and card.get("family") == "escat" else "generator"
