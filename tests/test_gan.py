"""Conditional GAN: training behaviour, checkpoints, freezing, generation, model files."""
import json

import numpy as np
import pytest
import torch

from aiva.errors import AivaInputError
from aiva.metrics import emd
from aiva.models.blocks import freeze
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.models.generate import generate_events, generate_proxies
from aiva.models.io import load_model, save_model
from aiva.training.checkpoint import load_checkpoint
from aiva.training.configs import TrainConfig
from aiva.training.gan import train_gan

SMALL = GANConfig(latent_dim=4, g_blocks=2, g_width=32, d_blocks=2, d_width=32)
CARD = {"name": "toy", "target": "C12", "probe": "numu", "energy_range_GeV": [0.3, 10.0], "mode_code": 0}


def toy_data(n, seed=0):
    """Toy conditional 2-D distribution in proxy space: a blob whose centre moves with E'."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(-1, 1, n)
    x = np.clip(0.4 * e + 0.15 * rng.standard_normal(n), -0.99, 0.99)
    y = np.clip(-0.3 + 0.2 * e * e + 0.1 * rng.standard_normal(n), -0.99, 0.99)
    return np.column_stack([e, x, y]).astype(np.float32)


def toy_refs(energies=(0.5, 5.0), n=4000):
    from aiva.physics.kinematics import enu_to_proxy

    refs = {}
    for k, E in enumerate(energies):
        d = toy_data(50_000, seed=100 + k)
        ep = enu_to_proxy(E)
        sel = d[np.argsort(np.abs(d[:, 0] - ep))[:n]]
        refs[E] = sel[:, 1:].astype(np.float64)
    return refs


def _distance(model, refs):
    net = model.sampler()
    from aiva.physics.kinematics import enu_to_proxy
    from aiva.training.validation import sample_proxies

    out = 0.0
    for E, ref in refs.items():
        g = sample_proxies(net, np.full(len(ref), enu_to_proxy(E)), seed=3)
        out += emd(ref[:, 0], g[:, 0]) + emd(ref[:, 1], g[:, 1])
    return out


def test_training_reduces_discriminator_advantage(tmp_path):
    torch.manual_seed(0)
    data = toy_data(40_000)
    refs = toy_refs()
    before = _distance(ConditionalGAN(SMALL), refs)
    tc = TrainConfig(epochs=4, batch_size=256, ema_decay=0.99, val_events=0, seed=1, lr_final_factor=1.0)
    res = train_gan(data, refs, tmp_path, model_config=SMALL, train_config=tc, card=CARD, progress=False)
    after = _distance(res["model_obj"], refs)
    assert after < 0.4 * before, (before, after)
    # the discriminator's loss moves towards its equilibrium value 2 ln 2 (it can no longer win easily)
    d_losses = [h["d_loss"] for h in res["history"]]
    assert abs(d_losses[-1] - 2 * np.log(2)) < abs(d_losses[0] - 2 * np.log(2)) + 0.05
    # checkpoint selection: the saved model is the epoch with the lowest validation MAP
    maps = [h["mean_MAP"] for h in res["history"]]
    assert res["best"]["epoch"] == int(np.argmin(maps)) + 1
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["metrics"]["epoch"] == res["best"]["epoch"]
    assert (tmp_path / "history.csv").read_text().startswith("epoch,d_loss,g_loss,mean_MAP")


def test_resume_is_bit_for_bit(tmp_path):
    data = toy_data(8_000)
    refs = toy_refs(n=1000)
    kw = dict(model_config=SMALL, card=CARD, progress=False)
    tc2 = TrainConfig(epochs=2, batch_size=256, seed=5)
    full = train_gan(data, refs, tmp_path / "a", train_config=tc2, **kw)
    tc1 = TrainConfig(epochs=1, batch_size=256, seed=5)
    train_gan(data, refs, tmp_path / "b", train_config=tc1, **kw)
    resumed = train_gan(data, refs, tmp_path / "b", train_config=tc2, **kw)  # continues from epoch 1
    ta, _ = load_checkpoint(tmp_path / "a" / "checkpoint")
    tb, mb = load_checkpoint(tmp_path / "b" / "checkpoint")
    assert mb["epoch"] == 2 and set(ta) == set(tb)
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert full["history"][-1]["g_loss"] == resumed["history"][-1]["g_loss"]


def test_frozen_blocks_unchanged_after_training(tmp_path):
    data = toy_data(4_000)
    init = ConditionalGAN(SMALL)
    before = {k: v.clone() for k, v in init.generator.g0.state_dict().items()}
    before_d = {k: v.clone() for k, v in init.discriminator.d0.state_dict().items()}
    res = train_gan(data, {}, tmp_path, init=init, freeze=["g0", "d0"], card=CARD, progress=False,
                    train_config=TrainConfig(epochs=1, batch_size=256))
    m = res["model_obj"]
    for k, v in m.generator.g0.state_dict().items():  # weights and BatchNorm running statistics
        assert torch.equal(v, before[k]), k
    for k, v in m.discriminator.d0.state_dict().items():
        assert torch.equal(v, before_d[k]), k
    assert not torch.equal(m.generator.g1.linear.weight, init.generator.g1.linear.weight)
    assert res["frozen"] == ["g0", "d0"]


def test_freeze_single_optimizer_step():
    m = ConditionalGAN(SMALL)
    freeze(m.generator, ["g1"])
    w0 = m.generator.g1.linear.weight.clone()
    opt = torch.optim.Adam([p for p in m.generator.parameters() if p.requires_grad], lr=1e-2)
    m.generator.train()
    out = m.generator(torch.randn(64, 4), torch.rand(64, 1))
    out.pow(2).mean().backward()
    opt.step()
    assert torch.equal(m.generator.g1.linear.weight, w0)
    with pytest.raises(KeyError, match="no block named"):
        freeze(m.generator, ["g9"])


def test_save_load_round_trip_and_integrity(tmp_path):
    m = ConditionalGAN(SMALL)
    p = save_model(m, tmp_path / "toy", CARD)
    m2, card = load_model(p)
    assert card["config"]["g_width"] == 32 and card["family"] == "gan"
    e = np.linspace(0.3, 10, 1000)
    a, _ = generate_proxies(m, e, seed=1)
    b, _ = generate_proxies(m2, e, seed=1)
    assert np.array_equal(a, b)
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(AivaInputError, match="SHA-256"):
        load_model(p)
    with pytest.raises(AivaInputError, match="no model"):
        load_model(tmp_path / "missing")


def test_generation_inverts_proxies_and_is_reproducible():
    m = ConditionalGAN(SMALL)
    E = np.random.default_rng(0).uniform(0.3, 10, 5000)
    prox, n_redrawn = generate_proxies(m, E, seed=7, float64=True)
    t = generate_events(m, CARD, E, seed=7, float64=True)
    assert t.metadata["n_redrawn"] == n_redrawn
    back = np.column_stack(t.proxies()[1:])
    assert np.allclose(back, prox, atol=1e-10)
    assert np.allclose(t["Enu_true"], E, rtol=1e-12)  # the requested energies, in GeV
    assert np.all(t["ELep"] <= t["Enu_true"]) and np.all(np.abs(t["CosLep"]) <= 1)
    from aiva.events import validate

    validate(t)
    assert np.all(np.abs(prox) <= 1)  # out-of-range proxies were redrawn, not clipped
    t2 = generate_events(m, CARD, E, seed=7, float64=True)
    assert np.array_equal(t["ELep"], t2["ELep"])
    t3 = generate_events(m, CARD, E, seed=8, float64=True)
    assert not np.array_equal(t["ELep"], t3["ELep"])


def test_extrapolation_refused():
    m = ConditionalGAN(SMALL)
    with pytest.raises(AivaInputError, match="outside the trained range"):
        generate_events(m, CARD, np.array([12.0]), seed=1)
    t = generate_events(m, CARD, np.array([10.5]), seed=1, allow_extrapolation=True)
    assert len(t) == 1


def _mc_file(tmp_path, name, **kw):
    from aiva.events import write_parquet
    from aiva.mc import simulate

    t = simulate(kw.pop("target", "Ar40"), kw.pop("probe", "numu"), kw.pop("n", 3000), seed=3, **kw)
    return write_parquet(t, tmp_path / name), t


def test_cli_transfer_records_parent_and_freezes(tmp_path):
    from aiva.cli import main

    base = save_model(ConditionalGAN(SMALL), tmp_path / "base", {**CARD, "name": "base-toy"})
    data, _ = _mc_file(tmp_path, "ar.parquet", energy_range=(0.3, 10.0))
    out = tmp_path / "tl"
    rc = main(["transfer", "--base", str(base), "--data", str(data), "--out", str(out), "--epochs", "1",
               "--val-events", "2000", "-q"])
    assert rc == 0
    card = json.loads((out / "model.json").read_text())
    assert card["parent"]["name"] == "base-toy" and card["target"] == "Ar40"
    assert card["training"]["transfer"]["frozen"] == ["g0", "d0"]
    # trained on reference-MC argon: the card carries argon's sigma(E) (per nucleon x 40 = per nucleus)
    xs = card["xsec"]
    assert xs["A"] == 40 and np.allclose(np.array(xs["per_nucleus_1e-38cm2"]),
                                         40 * np.array(xs["per_nucleon_1e-38cm2"]))
    assert xs["E_GeV"][0] == 0.3 and xs["E_GeV"][-1] == 10.0
    tuned, _ = load_model(out / "model.safetensors")
    parent, _ = load_model(base)
    assert torch.equal(tuned.generator.g0.linear.weight, parent.generator.g0.linear.weight)
    assert torch.equal(tuned.generator.g0.norm.running_mean, parent.generator.g0.norm.running_mean)
    assert not torch.equal(tuned.generator.g1.linear.weight, parent.generator.g1.linear.weight)


def test_transfer_bad_data(tmp_path, capsys):
    from aiva.cli import main
    from aiva.events import write_parquet

    base = save_model(ConditionalGAN(SMALL), tmp_path / "base", CARD)
    data, t = _mc_file(tmp_path, "ar.parquet", energy_range=(0.3, 10.0))
    t.metadata["target"] = "C12"  # wrong target metadata
    bad = write_parquet(t, tmp_path / "mislabelled.parquet")
    assert main(["transfer", "--base", str(base), "--data", str(bad), "--out", str(tmp_path / "x"), "-q"]) == 2
    assert "metadata says target 'C12'" in capsys.readouterr().err
    hi, _ = _mc_file(tmp_path, "hi.parquet", energy_range=(5.0, 15.0))
    assert main(["transfer", "--base", str(base), "--data", str(hi), "--out", str(tmp_path / "y"), "-q"]) == 2
    assert "outside the model range" in capsys.readouterr().err
    assert main(["transfer", "--base", str(base), "--data", str(data), "--freeze", "g7", "--out",
                 str(tmp_path / "z"), "-q"]) == 2


def test_toml_config_parsed_and_unknown_keys_rejected(tmp_path):
    from pathlib import Path

    from aiva.training.configs import load_toml_config

    root = Path(__file__).resolve().parent.parent
    mcfg, tcfg = load_toml_config(root / "configs" / "gan_inclusive.toml")
    assert mcfg.g_blocks == 5 and tcfg.val_energies == (0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 7.0, 9.0)
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\ng_blokcs = 3\n")
    with pytest.raises(AivaInputError, match="bad.toml: .*g_blokcs"):
        load_toml_config(bad)


def test_cli_train_on_foreign_csv_and_generate(tmp_path):
    """A file without aiva metadata (e.g. converted generator output) trains with a held-out split."""
    from aiva.cli import main
    from aiva.events import read_events, write_csv

    _, t = _mc_file(tmp_path, "mc.parquet", target="C12", n=6000, energy_range=(0.3, 10.0))
    csv = write_csv(t, tmp_path / "foreign.csv")
    cfg = tmp_path / "small.toml"
    cfg.write_text("[model]\nlatent_dim = 4\ng_blocks = 2\ng_width = 16\nd_blocks = 2\nd_width = 16\n"
                   "[training]\nbatch_size = 512\nepochs = 2\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(csv), "--out", str(out), "--config", str(cfg), "-q"]) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["data"][0]["file"] == "foreign.csv" and len(card["training"]["data"][0]["sha256"]) == 64
    # not aiva's MC: selected on held-out MAP-3D (a GAN has no likelihood), with its noise and floor
    val = card["metrics"]["validation"]
    assert val["figure"] == "MAP-3D" and val["n_events"] == 600 and 0 < val["noise"] < 1 and val["MAP3D_floor"] > 0
    assert card["metrics"]["selection"]["epochs_validated"] == 2
    assert "xsec" not in card  # foreign data without cross sections: none is invented
    gen = tmp_path / "gen.parquet"
    assert main(["generate", "--model", str(out / "model.safetensors"), "--energy-range", "0.5", "5", "--events",
                 "2000", "-o", str(gen)]) == 0
    g = read_events(gen)
    assert len(g) == 2000 and g["Enu_true"].min() >= 0.5 and g["Enu_true"].max() <= 5
    assert main(["generate", "--model", str(out / "model.safetensors"), "--energy", "12", "--events", "10",
                 "-o", str(gen)]) == 2
