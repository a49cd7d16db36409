"""One contract for every generative family: shapes, seeds, save/load, freezing, training, resume."""
import numpy as np
import pytest
import torch

from aiva.models.cfm import CFMConfig, ConditionalCFM
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.models.generate import generate_events, generate_proxies
from aiva.models.io import load_model, save_model
from aiva.training.configs import CFMTrainConfig, FlowTrainConfig
from aiva.training.direct import train_direct
from aiva.training.configs import TrainConfig
from aiva.training.gan import train_gan
from aiva.training.run import freeze_scheme
from test_gan import CARD, _distance, toy_data, toy_refs

FAMILIES = {
    "gan": (lambda: ConditionalGAN(GANConfig(latent_dim=4, g_blocks=2, g_width=32, d_blocks=2, d_width=32)),
            lambda **kw: TrainConfig(batch_size=256, val_events=0, lr_final_factor=1.0, ema_decay=0.99, **kw),
            train_gan),
    "flow": (lambda: ConditionalFlow(FlowConfig(transforms=2, bins=8, hidden=32)),
             lambda **kw: FlowTrainConfig(batch_size=256, val_events=0, lr=3e-3, **kw),
             lambda *a, **kw: train_direct("flow", *a, **kw)),
    "cfm": (lambda: ConditionalCFM(CFMConfig(hidden=32, blocks=3, steps=4)),
            lambda **kw: CFMTrainConfig(batch_size=256, val_events=0, lr=3e-3, lr_final_factor=0.2, **kw),
            lambda *a, **kw: train_direct("cfm", *a, **kw)),
}
train_flow = FAMILIES["flow"][2]


def _params(model):
    return model.generator if isinstance(model, ConditionalGAN) else model


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_seeds_and_save_load(family, tmp_path):
    make, _, _ = FAMILIES[family]
    torch.manual_seed(0)
    m = make()
    E = np.array([0.5, 1.0, 2.0, 9.5] * 50)
    p1, _ = generate_proxies(m, E, seed=7)
    p2, _ = generate_proxies(m, E, seed=7)
    p3, _ = generate_proxies(m, E, seed=8)
    assert p1.shape == (200, 2) and np.all(np.abs(p1) <= 1)
    assert np.array_equal(p1, p2) and not np.array_equal(p1, p3)
    w = save_model(m, tmp_path / "m", CARD)
    back, card = load_model(w)
    assert card["family"] == family and card["config"] == m.config.to_dict()
    assert np.array_equal(generate_proxies(back, E, seed=7)[0], p1)
    t = generate_events(back, card, E, seed=7)
    assert np.all(t["ELep"] <= t["Enu_true"]) and np.all(np.abs(t["CosLep"]) <= 1)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_implements_the_generator_interface(family):
    """The declared interface (aiva.models.base.Generator) holds for every family, and freezing
    by the family's own default scheme leaves gradients only outside the frozen blocks."""
    from aiva.models.base import Generator

    m = FAMILIES[family][0]()
    assert isinstance(m, Generator)
    assert m.family == family and isinstance(m.has_likelihood, bool)
    names, groups, default = m.block_names(), m.block_groups(), m.default_freeze()
    assert set(default) <= set(names) and all(set(g) <= set(names) for g in groups) and default
    assert hasattr(m.sampler(), "latent_dim") and set(m.state())
    frozen = m.freeze(default)
    assert set(frozen) == set(default)
    if m.has_likelihood:
        x, e = torch.zeros(4, 2), torch.zeros(4, 1)
        assert m.log_prob(x, e).shape == (4,)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_improves_and_frozen_blocks_stay(family, tmp_path):
    make, tconf, train = FAMILIES[family]
    torch.manual_seed(0)
    data, refs = toy_data(40_000), toy_refs()
    base = make()
    before = _distance(base, refs)
    res = train(data, refs, tmp_path / "a", init=base, train_config=tconf(epochs=4, seed=1), card=CARD,
                progress=False)
    trained = res["model_obj"]
    assert _distance(trained, refs) < 0.7 * before
    frozen = freeze_scheme(trained, "default")
    assert frozen  # the default scheme freezes the early half
    res2 = train(data, refs, tmp_path / "b", init=trained, freeze=frozen, train_config=tconf(epochs=1, seed=2),
                 card=CARD, progress=False)
    tuned = res2["model_obj"]
    name = frozen[0]
    before_sd = {k: v for k, v in _params(trained).state_dict().items() if k.startswith(_prefix(trained, name))}
    after_sd = {k: v for k, v in _params(tuned).state_dict().items() if k.startswith(_prefix(trained, name))}
    assert before_sd and all(torch.equal(before_sd[k], after_sd[k]) for k in before_sd)
    changed = [k for k, v in _params(tuned).state_dict().items()
               if v.is_floating_point() and not torch.equal(v, _params(trained).state_dict()[k])]
    assert changed  # the unfrozen blocks did move


def _prefix(model, name):
    if isinstance(model, ConditionalGAN):
        return name + "."
    if isinstance(model, ConditionalCFM):
        return f"field.blocks.{name[1:]}." if name != "out" else "field.out."
    return f"flow.transform.transforms.{name[1:]}."


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_is_bit_for_bit(family, tmp_path):
    make, tconf, train = FAMILIES[family]
    data, refs = toy_data(6_000), toy_refs(n=1000)
    torch.manual_seed(0)
    kw = {"init": make()}
    full = train(data, refs, tmp_path / "full", train_config=tconf(epochs=2, seed=3), card=CARD, progress=False, **kw)
    torch.manual_seed(0)
    kw = {"init": make()}
    train(data, refs, tmp_path / "part", train_config=tconf(epochs=1, seed=3), card=CARD, progress=False, **kw)
    resumed = train(data, refs, tmp_path / "part", train_config=tconf(epochs=2, seed=3), card=CARD, progress=False,
                    **kw)
    a, b = _params(full["model_obj"]).state_dict(), _params(resumed["model_obj"]).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_flow_likelihood_is_normalised():
    """∫ p(x | E) dx = 1 over the proxy square (where the toy-trained flow puts its mass)."""
    torch.manual_seed(0)
    m = ConditionalFlow(FlowConfig(transforms=2, bins=8, hidden=16))
    g = np.linspace(-4.99, 4.99, 600)
    xx, yy = np.meshgrid(g, g)
    x = torch.tensor(np.column_stack([xx.ravel(), yy.ravel()]), dtype=torch.float64)
    m.double()
    with torch.no_grad():
        p = m.log_prob(x, torch.full((len(x), 1), 0.3, dtype=torch.float64)).exp().numpy()
    assert abs(p.sum() * (g[1] - g[0]) ** 2 - 1.0) < 0.02


def test_reweighting_between_flows_matches_target_model(tmp_path):
    """Events of flow 1 weighted by p2/p1 reproduce flow 2's histograms (chi2 test)."""
    from scipy import stats

    from aiva.cli import main
    from aiva.events import read_events, write_events

    torch.manual_seed(0)
    d1 = toy_data(30_000, seed=1)
    d2 = d1.copy()
    d2[:, 1] = np.clip(d2[:, 1] + 0.15, -0.99, 0.99)  # a shifted E'_mu distribution
    cfg = FlowTrainConfig(batch_size=256, val_events=0, lr=3e-3, epochs=3, seed=1)
    m1 = train_flow(d1, {}, tmp_path / "m1", model_config=FlowConfig(transforms=2, bins=8, hidden=32),
                    train_config=cfg, card=CARD, progress=False)
    m2 = train_flow(d2, {}, tmp_path / "m2", model_config=FlowConfig(transforms=2, bins=8, hidden=32),
                    train_config=cfg, card=CARD, progress=False)
    net1, card1 = load_model(m1["model"])
    net2, card2 = load_model(m2["model"])
    E = np.full(60_000, 2.0)
    write_events(generate_events(net1, card1, E, seed=5), tmp_path / "ev1.parquet")
    assert main(["reweight", str(tmp_path / "ev1.parquet"), "--from", m1["model"], "--to", m2["model"],
                 "-o", str(tmp_path / "rw.parquet")]) == 0
    rw = read_events(tmp_path / "rw.parquet")
    s2 = generate_events(net2, card2, E, seed=6)
    x1, x2 = rw.proxies()[1], s2.proxies()[1]
    assert abs(rw["weight"].mean() - 1.0) < 0.05  # E_p1[p2/p1] = 1
    edges = np.quantile(x2, np.linspace(0, 1, 16))
    h_rw, _ = np.histogram(x1, edges, weights=rw["weight"])
    h_rw2, _ = np.histogram(x1, edges, weights=rw["weight"] ** 2)
    h2, _ = np.histogram(x2, edges)
    h_rw *= len(x2) / rw["weight"].sum()
    h_rw2 *= (len(x2) / rw["weight"].sum()) ** 2
    c2 = np.sum((h_rw - h2) ** 2 / (h_rw2 + h2))
    assert stats.chi2.sf(c2, len(h2) - 1) > 1e-3, c2
    h_raw, _ = np.histogram(x1, edges)  # without the weights the two samples clearly differ
    assert np.sum((h_raw - h2) ** 2 / (h_raw + h2 + 1)) > 10 * c2


def test_cpu_budget_stops_training_and_drives_the_lr_decay(tmp_path):
    """--cpu-minutes: training stops before an epoch would overrun the CPU budget, and the cosine
    learning rate follows the budget fraction used (it has decayed when the budget runs out)."""
    import time

    make, tconf, train = FAMILIES["cfm"]
    torch.manual_seed(0)
    c0 = time.process_time()
    res = train(toy_data(20_000), {}, tmp_path / "b", init=make(), train_config=tconf(epochs=10_000, seed=1,
                                                                                      cpu_minutes=0.03),
                card=CARD, progress=False)
    used = time.process_time() - c0
    hist = res["history"]
    assert 2 <= len(hist) < 10_000
    assert used < 0.03 * 60 + 3 * max(h["seconds"] for h in hist) + 2  # no runaway past the budget
    assert hist[-1]["lr"] < 0.6 * hist[0]["lr"]  # the decay followed the budget, not the 10,000 epochs


def test_default_model_is_the_fastest_meeting_the_quality_bar(tmp_path, monkeypatch):
    import json

    import aiva.models.io as io

    def ship(name, mean, mx, auc, speed, probe="numu"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
        card = {"name": name, "family": "flow", "probe": probe, "target": "C12", "mode_code": 0,
                "metrics": {"evaluation": {"mean_MAP": mean, "max_MAP": mx, "max_C2ST_AUC": auc},
                            "speed": {"one_thread_s": speed}}}
        (tmp_path / f"{name}.json").write_text(json.dumps(card))

    monkeypatch.setattr(io, "MODELS_DIR", tmp_path)
    ship("poor-but-fast", 8.5, 12.0, 0.69, 2.7)
    ship("good-slow", 1.10, 1.40, 0.52, 7.0)
    assert io.default_model() == ("good-slow", "the fastest shipped generator meeting the quality bar")
    ship("good-fast", 1.15, 1.45, 0.55, 4.0)
    ship("best-antineutrino", 0.9, 1.0, 0.5, 1.0, probe="numubar")
    assert io.default_model()[0] == "good-fast"
    ship("good-fast", 1.15, 1.55, 0.55, 4.0)  # now above the bar at one energy
    assert io.default_model()[0] == "good-slow"
    for n in ("good-slow", "good-fast"):
        (tmp_path / f"{n}.json").unlink()
        (tmp_path / f"{n}.safetensors").unlink()
    name, why = io.default_model()
    assert name == "poor-but-fast" and "no shipped generator meets" in why


def test_cfm_sampler_integrates_the_ode_to_t_equals_one():
    """The midpoint sampler solves dx/dt = v: a constant field moves z by v exactly, and
    v = x gives z·e to the midpoint rule's O(h²) accuracy."""
    from aiva.models.cfm import _Sampler

    z = torch.randn(100, 2, dtype=torch.float64)
    e = torch.zeros(100, 1, dtype=torch.float64)
    const = _Sampler(lambda x, t, e: torch.full_like(x, 0.3), steps=6)
    assert torch.allclose(const(z, e), z + 0.3, atol=1e-12)
    lin = _Sampler(lambda x, t, e: x, steps=6)
    h = 1 / 6
    assert torch.allclose(lin(z, e), z * (1 + h + h * h / 2) ** 6, atol=1e-12)
    assert torch.allclose(lin(z, e), z * np.e, rtol=6e-3)  # global error h²/6 = 0.46 %
    tdep = _Sampler(lambda x, t, e: 2 * t.expand_as(x), steps=3)  # dx/dt = 2t -> x(1) = z + 1, exact for midpoint
    assert torch.allclose(tdep(z, e), z + 1, atol=1e-12)


def test_energy_weighted_epoch_order():
    from aiva.training.direct import epoch_order

    E = torch.tensor([0.5] * 5000 + [5.0] * 5000)
    g = torch.Generator().manual_seed(3)
    perm = epoch_order(E, 0.0, g)
    assert torch.equal(torch.sort(perm).values, torch.arange(len(E)))  # p = 0: a permutation
    idx = epoch_order(E, 1.0, g)
    assert len(idx) == len(E)
    # weights ∝ 1/E: the 0.5 GeV half is drawn 10 times as often as the 5 GeV half (10/11 of draws)
    frac_low = (E[idx] < 1).double().mean().item()
    assert abs(frac_low - 10 / 11) < 0.01
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(epoch_order(E, 0.5, g1), epoch_order(E, 0.5, g2))


@pytest.mark.parametrize("select_by, winner", [("mean", 1), ("max", 2)])
def test_checkpoint_selection_by_mean_or_worst_energy(select_by, winner, tmp_path):
    from aiva.errors import AivaInputError
    from aiva.training.loop import keep_if_best

    model = FAMILIES["flow"][0]()
    tcfg = FlowTrainConfig(select_by=select_by)
    v1 = {"mean_MAP": 1.0, "MAP": {"0.5": 3.0, "5.0": 0.5, "9.0": 0.5}}  # good on average, bad at 0.5 GeV
    v2 = {"mean_MAP": 1.5, "MAP": {"0.5": 2.0, "5.0": 1.3, "9.0": 1.2}}  # worse on average, best worst case
    best = {"score": float("inf"), "epoch": -1}
    best = keep_if_best(model, tmp_path, {}, tcfg, v1, 0, best, [])
    best = keep_if_best(model, tmp_path, {}, tcfg, v2, 1, best, [])
    assert best["epoch"] == winner
    assert (tmp_path / "model.safetensors").exists()
    with pytest.raises(AivaInputError, match="select_by"):
        keep_if_best(model, tmp_path, {}, FlowTrainConfig(select_by="median"), v1, 2, best, [])
