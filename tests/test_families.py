"""One contract for every generative family: shapes, seeds, save/load, freezing, training, resume."""
import numpy as np
import pytest
import torch

from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.models.generate import generate_events, generate_proxies
from aiva.models.io import load_model, save_model
from aiva.training.flow import FlowTrainConfig, train_flow
from aiva.training.gan import TrainConfig, train_gan
from aiva.training.run import freeze_scheme
from test_gan import CARD, _distance, toy_data, toy_refs

FAMILIES = {
    "gan": (lambda: ConditionalGAN(GANConfig(latent_dim=4, g_blocks=2, g_width=32, d_blocks=2, d_width=32)),
            lambda **kw: TrainConfig(batch_size=256, val_events=0, lr_final_factor=1.0, ema_decay=0.99, **kw),
            train_gan),
    "flow": (lambda: ConditionalFlow(FlowConfig(transforms=2, bins=8, hidden=32)),
             lambda **kw: FlowTrainConfig(batch_size=256, val_events=0, lr=3e-3, **kw), train_flow),
}


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
