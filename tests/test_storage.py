"""Compact storage of generators (issue #26: every shipped generator < 1 MB): float16 weights and
MADE masks rebuilt from the architecture, widened back on load; and the safetensors sniffing that
must not mistake a header length for a pickle's magic byte."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from aiva.errors import AivaInputError
from aiva.models.artefact import safetensors_header
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.io import MODELS_DIR, load_model, save_model, store_as

TINY = FlowConfig(transforms=2, bins=4, hidden=8, layers=1)


def _tiny(tmp_path):
    torch.manual_seed(3)
    net = ConditionalFlow(TINY)
    with torch.no_grad():  # weights away from the initialisation, so that rounding is visible
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return save_model(net, tmp_path / "tiny.safetensors", {"name": "tiny", "energy_range_GeV": [0.3, 10.0]})


def _sample(net, n=2000, seed=5):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g)
    e = torch.full((n, 1), 0.2)
    with torch.no_grad():
        return net.sampler()(z, e).numpy()


def test_float16_storage_round_trip_is_the_rounded_model(tmp_path):
    w = _tiny(tmp_path)
    net, card = load_model(w)
    out = store_as(w, tmp_path / "half.safetensors")
    half, hcard = load_model(out)
    assert hcard["dtype"] == "float16" and hcard["omit_masks"] is True
    assert hcard["stored_from"] == {"weights_sha256": card["weights_sha256"], "dtype": "float32", "omit_masks": False}
    again = store_as(out, tmp_path / "again.safetensors", omit_masks=False)  # from a compact file: says so
    assert json.loads(again.with_suffix(".json").read_text())["stored_from"]["dtype"] == "float16"
    head = safetensors_header(out)
    assert {d for d, _ in head.values()} <= {"F16", "I64"}, "float32 tensors are stored as float16, masks left out"
    assert not any(k.endswith(".mask") for k in head)
    # on load every tensor is float32 again and equals the float16 rounding of the original
    orig, back = net.state(), half.state()
    assert set(orig) == set(back)
    for k, v in orig.items():
        assert back[k].dtype == v.dtype, k
        want = v.half().float() if v.dtype == torch.float32 else v
        assert torch.equal(back[k], want), k
    # the file is about half as large (float32 -> float16, masks 1 byte per element dropped)
    assert out.stat().st_size < 0.55 * w.stat().st_size
    # samples move by float16 rounding only
    a, b = _sample(net), _sample(half)
    assert np.max(np.abs(a - b)) < 5e-2 and np.median(np.abs(a - b)) < 5e-3
    assert not np.array_equal(a, b)


def test_a_model_saved_from_a_compact_parent_is_float32_with_masks(tmp_path):
    out = store_as(_tiny(tmp_path), tmp_path / "half.safetensors")
    net, card = load_model(out)
    w = save_model(net, tmp_path / "child.safetensors", {**card, "name": "child"})
    c = json.loads(w.with_suffix(".json").read_text())
    assert not {"dtype", "omit_masks", "stored_from"} & set(c)
    assert {d for d, _ in safetensors_header(w).values()} == {"F32", "BOOL", "I64"}
    load_model(w)


def test_inconsistent_storage_cards_are_clear_errors(tmp_path):
    out = store_as(_tiny(tmp_path), tmp_path / "half.safetensors")
    card = json.loads(out.with_suffix(".json").read_text())
    for change, msg in (({"dtype": "float8"}, "key 'dtype'"), ({"omit_masks": "yes"}, "key 'omit_masks'"),
                        ({"omit_masks": False}, "missing"), ({"dtype": "float32"}, "another shape or dtype")):
        out.with_suffix(".json").write_text(json.dumps({**card, **change}))
        with pytest.raises(AivaInputError, match=msg):
            load_model(out)


def test_masks_that_the_architecture_does_not_rebuild_are_kept(tmp_path):
    w = _tiny(tmp_path)
    t = load_file(str(w))
    k = next(n for n in t if n.endswith(".mask"))
    t[k] = ~t[k]
    card = json.loads(w.with_suffix(".json").read_text())
    save_file(t, str(w))
    card.pop("weights_sha256")
    w.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(AivaInputError, match="masks are not reproduced"):
        store_as(w, tmp_path / "half.safetensors")


def test_a_header_length_ending_in_0x80_is_not_taken_for_a_pickle(tmp_path):
    """A safetensors header is 8 bytes of little-endian length, then JSON: a length whose low byte
    is 0x80 (a pickle's PROTO opcode) is still safetensors (the shipped nu-bar model is one)."""
    t = {"w": torch.zeros(3)}
    for pad in range(0, 600):
        p = tmp_path / "x.safetensors"
        save_file(t, str(p), metadata={"pad": "x" * pad})
        n = struct.unpack("<Q", p.read_bytes()[:8])[0]
        if n % 256 == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length ending in 0x80")
    assert p.read_bytes()[0] == 0x80
    assert safetensors_header(p) == {"w": ("F32", (3,))}


def test_every_shipped_generator_file_is_under_1_MB():
    sizes = {p.name: p.stat().st_size for p in MODELS_DIR.glob("*.safetensors")}
    assert sizes and all(s < 1_000_000 for s in sizes.values()), sizes


def test_the_shipped_nubar_model_is_the_float16_mixture():
    net, card = load_model("numubar-C12-inclusive")
    assert card["family"] == "mixture" and card["dtype"] == "float16" and card["omit_masks"] is True
    m = card["metrics"]["benchmark_transfer"]
    assert m["mean_MAP"] <= 1.42 and m["MAP"]["0.5"] <= 2.05
    assert all(v.dtype != torch.float16 for v in net.state().values())
