"""Training on a user's generator output (issue #21): the proxy-domain policy and checkpoint
selection on held-out events of the file."""
import json
import math

import numpy as np
import pytest
import torch

from aiva.cli import main

FLOW_TOML = "[model]\ntransforms = 2\nbins = 8\nhidden = 16\nlayers = 1\n[training]\nbatch_size = 512\n"


def external_file(tmp_path, n=10_000, n_bad=5, name="ext.parquet", seed=3):
    """Reference-MC events marked as another generator's, ``n_bad`` of them with an energy
    transfer below the 9.8 MeV of the proxy map (as NuWro's spectral-function QE allows)."""
    from aiva.events import write_parquet
    from aiva.mc import simulate

    t = simulate("C12", "numu", n, seed=seed, energy_range=(0.3, 10.0))
    t.metadata["producer"] = "othergen"
    bad = np.random.default_rng(0).choice(n, n_bad, replace=False)
    t.columns["ELep"][bad] = t["Enu_true"][bad] - 0.004
    return write_parquet(t, tmp_path / name)


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "flow.toml"
    p.write_text(FLOW_TOML)
    return p


def _card(out):
    return json.loads((out / "model.json").read_text())


def _check_heldout_selection(card, n_drop, n_hold):
    assert card["training"]["dropped_outside_proxy_domain"]["events"] == n_drop
    assert card["training"]["validation"]["n_events"] == n_hold
    val = card["metrics"]["validation"]
    assert val["figure"] == "NLL" and math.isfinite(val["score"]) and 0 < val["noise"] < 0.1
    sel = card["metrics"]["selection"]
    assert sel["selected_epoch"] == card["metrics"]["epoch"] and sel["noise"] == val["noise"]


def test_train_flow_on_external_file_drops_with_count_and_selects_on_heldout_nll(tmp_path, cfg, capsys):
    data, out = external_file(tmp_path), tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--family", "flow", "--config", str(cfg),
                 "--epochs", "2", "--threads", "1", "-q"]) == 0
    err = capsys.readouterr().err
    assert "dropped 5 of 10000 events" in err
    card = _card(out)
    _check_heldout_selection(card, 5, 1000)
    hist = json.loads((out / "history.json").read_text())
    assert [h["val_figure"] for h in hist] == ["NLL", "NLL"] and all(h["val_noise"] > 0 for h in hist)
    assert "val_score" in (out / "history.csv").read_text().splitlines()[0]


def test_transfer_default_generator_on_external_file(tmp_path, capsys):
    data, out = external_file(tmp_path, n_bad=3), tmp_path / "tl"
    assert main(["transfer", "--base", "numu-C12-inclusive-flow", "--data", str(data), "--out", str(out),
                 "--freeze", "none", "--epochs", "1", "-q"]) == 0
    cap = capsys.readouterr()
    assert "dropped 3 of 10000 events" in cap.err
    assert "held-out NLL" in cap.out and "mean validation MAP" not in cap.out
    assert "one validated epoch" in cap.err  # one epoch: said, not hidden behind a meaningless score
    card = _card(out)
    _check_heldout_selection(card, 3, 1000)
    assert card["parent"]["name"] == "numu-C12-inclusive-flow"


def test_file_with_more_than_one_percent_outside_is_refused(tmp_path, cfg, capsys):
    data = external_file(tmp_path, n=5000, n_bad=200, name="bad.parquet")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "x"), "--family", "flow", "--config",
                 str(cfg), "--epochs", "1", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.parquet" in err and "'ELep'" in err and "200 of 5000 events (4.00 %)" in err and "9.8 MeV" in err


def test_reference_mc_file_stays_strict(tmp_path):
    from aiva.errors import AivaInputError
    from aiva.events import read_events, write_parquet
    from aiva.mc import simulate
    from aiva.training.data import training_proxies

    t = simulate("C12", "numu", 2000, seed=1, energy_range=(0.3, 10.0))
    t.columns["ELep"][:1] = t["Enu_true"][:1] - 0.004
    t = read_events(write_parquet(t, tmp_path / "mc.parquet"))
    assert t.metadata["producer"] == "aiva.mc"
    with pytest.raises(AivaInputError, match="1 events map outside the proxy domain"):
        training_proxies(t, "mc.parquet")


def test_small_file_warns_and_gan_selects_on_heldout_map3d(tmp_path, capsys):
    data = external_file(tmp_path, n=4000, n_bad=0, name="small.parquet")
    cfg = tmp_path / "gan.toml"
    cfg.write_text("[model]\nlatent_dim = 4\ng_blocks = 2\ng_width = 16\nd_blocks = 2\nd_width = 16\n"
                   "[training]\nbatch_size = 512\n")
    out = tmp_path / "gan"
    assert main(["train", "--data", str(data), "--out", str(out), "--config", str(cfg), "--epochs", "2", "-q"]) == 0
    err = capsys.readouterr().err
    assert "only 400 held-out validation events" in err
    val = _card(out)["metrics"]["validation"]
    assert val["figure"] == "MAP-3D" and val["MAP3D_bins"] == 4 and 0 < val["noise"] < 0.5
    assert 0.5 < val["MAP3D_floor"] < 1.1  # two halves of one sample: ≈ √(2/π)


def test_heldout_selection_resumes_bit_for_bit(tmp_path, cfg):
    from aiva.models.io import load_model
    from aiva.training.run import train_from_files

    data = external_file(tmp_path, n=6000)
    kw = {"data": data, "config": cfg, "family": "flow", "threads": 1, "progress": False}
    full = train_from_files(out=tmp_path / "full", epochs=2, **kw)
    train_from_files(out=tmp_path / "part", epochs=1, **kw)  # the lr decay of epoch 1 is the same for 1 and 2 epochs
    resumed = train_from_files(out=tmp_path / "part", epochs=2, **kw)
    assert [h["val_score"] for h in full["history"]] == [h["val_score"] for h in resumed["history"]]
    assert full["best"]["epoch"] == resumed["best"]["epoch"]
    a, b = (load_model(r["model"])[0].state_dict() for r in (full, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


class _BlobSampler(torch.nn.Module):
    """A 'model' that samples (E'_μ, θ') exactly as the held-out blob below (independent of E'_ν)."""

    latent_dim = 2

    def __init__(self, width=0.3):
        super().__init__()
        self.width = width

    def forward(self, z, e):
        return torch.clamp(self.width * z, -0.99, 0.99)


def _blob(n, seed):
    return np.clip(np.random.default_rng(seed).normal(0, 0.3, (n, 3)), -0.99, 0.99)


def test_heldout_figures_and_noise():
    from aiva.training.validation import HeldOut, map3d_bins, selection_summary

    assert map3d_bins(100) == 4 and map3d_bins(50_000) == 13 and map3d_bins(10**7) == 20
    h = HeldOut(_blob(40_000, 0))
    right = type("M", (), {"sampler": lambda self: _BlobSampler(0.3)})()
    wrong = type("M", (), {"sampler": lambda self: _BlobSampler(0.33)})()
    r, w = h.evaluate(right, 1, "cpu"), h.evaluate(wrong, 1, "cpu")
    assert r["figure"] == "MAP-3D" and abs(r["score"] - h.floor) < 3 * r["noise"] < 0.05  # the floor is the figure's
    assert w["score"] > h.floor + 5 * w["noise"]  # a 10 % wider model is seen
    hist = [{"epoch": 1, "val_score": 1.0}, {"epoch": 2, "val_score": 0.999}, {"epoch": 3, "val_score": 0.9985}]
    best = {"epoch": 3, "score": 0.9985, "validation": {"figure": "NLL", "noise": 0.01, "n_events": 1000}}
    s = selection_summary(hist, best)
    assert s["noise_limited"] and s["epochs_within_noise_of_best"] == [1, 2, 3]
    s = selection_summary(hist, {**best, "validation": {**best["validation"], "noise": 6e-4}})
    assert not s["noise_limited"] and s["epochs_within_noise_of_best"] == [2, 3]
