"""Distillation of a flow into a GAN-architecture student, the fused GAN sampler, the default bar."""
import json

import numpy as np
import pytest
import torch

from aiva.errors import AivaInputError
from aiva.models.distil import DistilConfig, distil, distil_to_file, teacher_pairs
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.gan import ConditionalGAN, FusedGenerator, GANConfig
from aiva.models.generate import generate_events, generate_proxies
from aiva.models.io import load_model, save_model

SMALL = dict(latent_dim=4, g_blocks=3, g_width=32, d_blocks=2, d_width=32)


def _trained_bn(cfg: GANConfig) -> ConditionalGAN:
    """A GAN whose BatchNorm running statistics and affine weights are far from the identity."""
    torch.manual_seed(0)
    m = ConditionalGAN(cfg)
    with torch.no_grad():
        for mod in m.ema.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.weight.uniform_(0.5, 2.0)
                mod.bias.uniform_(-0.5, 0.5)
    m.ema.train()
    for _ in range(5):
        m.ema(3 * torch.randn(512, cfg.latent_dim) + 1, torch.rand(512, 1) * 2 - 1)
    return m


@pytest.mark.parametrize("kw", [{}, {"condition_every_block": False}, {"g_activation": "silu", "output": "tanh"},
                                {"g_activation": "relu", "g_blocks": 1}, {"g_activation": "tanh"}])
def test_fused_sampler_is_the_eval_generator(kw):
    """BatchNorm folded into the Linear and the E'_ν column as a rank-1 bias: the same function
    as the eval-mode generator, to float32 rounding (and to 1e-6 relative in float64)."""
    m = _trained_bn(GANConfig(**{**SMALL, **kw}))
    m.ema.eval()
    f = m.sampler()
    assert isinstance(f, FusedGenerator) and f.latent_dim == m.ema.latent_dim
    z, e = torch.randn(2000, SMALL["latent_dim"]), torch.rand(2000, 1) * 2 - 1
    with torch.inference_mode():
        ref = m.ema(z, e)
        scale = float(ref.abs().max())
        assert float((f(z, e) - ref).abs().max()) < 1e-5 * max(1.0, scale)
        ref64 = m.ema.double()(z.double(), e.double())
        assert float((f.double()(z.double(), e.double()) - ref64).abs().max()) < 1e-5 * max(1.0, scale)
    # and the snapshot does not follow later weight changes
    with torch.no_grad():
        m.ema.g_out.bias.add_(1.0)
    with torch.inference_mode():
        assert not torch.allclose(m.ema.float()(z, e), f.float()(z, e))


def test_teacher_pairs_pad_the_latent_and_cover_the_energy_range():
    torch.manual_seed(0)
    flow = ConditionalFlow(FlowConfig(transforms=1, bins=4, hidden=8))
    t = flow.sampler()
    z, e, x = teacher_pairs(t, 5000, torch.Generator().manual_seed(1), (0.3, 10.0), 5)
    assert z.shape == (5000, 5) and e.shape == (5000, 1) and x.shape == (5000, 2)
    assert float(e.min()) >= -1 and float(e.max()) <= 1 and float(e.max() - e.min()) > 1.9  # uniform over [−1, 1]
    with torch.no_grad():
        assert torch.allclose(x[:10], t(z[:10, :2], e[:10]), atol=1e-5)  # x is the teacher's map of z's first 2
    assert abs(float(z[:, 2:].std()) - 1) < 0.05  # the padding is standard normal
    with pytest.raises(ValueError):
        teacher_pairs(t, 10, torch.Generator(), (0.3, 10.0), 1)

def test_log_energy_sampling_follows_ln_e_and_uniform_keeps_its_stream():
    """``energy = "log"`` draws E_ν uniform in ln E: the fraction below 0.5 GeV is
    ln(0.5/0.3)/ln(10/0.3) = 0.146 (uniform in E: 0.2/9.7 = 0.021); "uniform" draws the same
    numbers as before the option existed (lo + (hi − lo) u from the same generator)."""
    from aiva.models.distil import draw_energies
    from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN

    def enu(e):
        return (e + 1) / 2 * (PROXY_EMAX - PROXY_EMIN) + PROXY_EMIN

    n = 200_000
    for how, frac in (("log", np.log(0.5 / 0.3) / np.log(10 / 0.3)), ("uniform", 0.2 / 9.7)):
        E = enu(draw_energies(n, torch.Generator().manual_seed(3), (0.3, 10.0), how))
        assert float(E.min()) >= 0.3 - 1e-4 and float(E.max()) <= 10.0 + 1e-4
        assert abs(float((E < 0.5).double().mean()) - frac) < 4 * np.sqrt(frac / n), how
    u = torch.rand(n, 1, generator=torch.Generator().manual_seed(3))
    old = 2 * ((0.3 + 9.7 * u) - PROXY_EMIN) / (PROXY_EMAX - PROXY_EMIN) - 1
    assert torch.equal(draw_energies(n, torch.Generator().manual_seed(3), (0.3, 10.0)), old)


def test_power_energy_sampling_follows_its_cdf_and_refuses_bad_powers():
    """``energy = "power"`` draws E_ν with density ∝ E^−p on [lo, hi]: for p = 2 the CDF is
    F(E) = (1/lo − 1/E)/(1/lo − 1/hi), so the fraction below 0.5 GeV is (1/0.3 − 2)/(1/0.3 − 0.1)
    = 0.412; for p = 1 it is the "log" fraction 0.146; p outside [0, 5] is a config error."""
    from aiva.models.distil import draw_energies
    from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN

    n = 200_000
    for p, frac in ((2.0, (1 / 0.3 - 2) / (1 / 0.3 - 0.1)), (1.0, np.log(0.5 / 0.3) / np.log(10 / 0.3)),
                    (0.0, 0.2 / 9.7)):
        e = draw_energies(n, torch.Generator().manual_seed(4), (0.3, 10.0), "power", p)
        E = (e + 1) / 2 * (PROXY_EMAX - PROXY_EMIN) + PROXY_EMIN
        assert float(E.min()) >= 0.3 - 1e-4 and float(E.max()) <= 10.0 + 1e-4
        assert abs(float((E < 0.5).double().mean()) - frac) < 4 * np.sqrt(frac * (1 - frac) / n), p
    assert DistilConfig.from_dict({"energy": "power", "energy_power": 3.0}).energy_power == 3.0
    for bad in (-1.0, 6.0):
        with pytest.raises(ValueError, match="energy_power"):
            DistilConfig.from_dict({"energy": "power", "energy_power": bad})


def test_distil_regresses_the_student_onto_the_teacher_map():
    """A small student learns a small flow's noise → proxy map: its mean squared error falls by
    a large factor from the untrained student's, on fresh pairs it never saw."""
    torch.manual_seed(0)
    teacher = ConditionalFlow(FlowConfig(transforms=1, bins=4, hidden=8))
    student = ConditionalGAN(GANConfig(**SMALL))
    t = teacher.sampler()
    z, e, x = teacher_pairs(t, 4000, torch.Generator().manual_seed(99), (0.3, 10.0), SMALL["latent_dim"])

    def err():
        with torch.inference_mode():
            return float(((student.sampler()(z, e) - x) ** 2).mean())

    before = err()
    cfg = DistilConfig(steps=300, batch=256, lr=3e-3, pool=20_000, refresh_every=50, ema_decay=0.9)
    res = distil(teacher, student, cfg, energy_range=(0.3, 10.0), log_every=100)
    assert res["step"] == 300
    after = err()
    assert after < 0.1 * before, (before, after)
    assert after < 0.05 * float(x.var(0).mean())  # explains > 95 % of the teacher's variance


def test_distil_config_refuses_bad_settings():
    for bad in ({"lr": -1.0}, {"loss": "hinge"}, {"steps": 0}, {"refresh": 2.0}, {"nope": 1}):
        with pytest.raises(AivaInputError):
            DistilConfig.from_dict(bad)


def test_distil_to_file_writes_a_loadable_card_and_resumes(tmp_path):
    torch.manual_seed(0)
    flow = ConditionalFlow(FlowConfig(transforms=1, bins=4, hidden=8))
    card = {"name": "teacher", "target": "C12", "probe": "numu", "mode_code": 0, "channels": ["qe"],
            "energy_range_GeV": [0.5, 5.0], "xsec": {"E_GeV": [0.5, 5.0], "per_nucleon_1e-38cm2": [1.0, 2.0]}}
    tpath = save_model(flow, tmp_path / "teacher.safetensors", card)
    settings = {"steps": 40, "batch": 64, "pool": 2000, "refresh_every": 10, "checkpoint_every": 20, "seed": 3}
    res = distil_to_file(tpath, tmp_path / "s1", student=SMALL, settings=settings, name="student")
    model, scard = load_model(res["model"])
    assert scard["family"] == "gan" and scard["name"] == "student" and res["steps"] == 40
    assert scard["energy_range_GeV"] == [0.5, 5.0] and scard["xsec"] == card["xsec"] and scard["channels"] == ["qe"]
    assert scard["parent"]["name"] == "teacher" and scard["parent"]["weights_sha256"] == json.loads(
        (tmp_path / "teacher.json").read_text())["weights_sha256"]
    assert scard["training"]["distil_config"]["steps"] == 40
    t = generate_events(model, scard, np.full(500, 2.0), seed=1)
    assert len(t) == 500 and np.all(t["ELep"] <= t["Enu_true"])
    with pytest.raises(AivaInputError):  # the student's trained range is the teacher's
        generate_events(model, scard, np.full(5, 7.0), seed=1)
    # resume: the checkpoint at step 40 is picked up and training goes on to 60, not from 0
    ck = json.loads((tmp_path / "s1.ckpt.json").read_text())
    assert ck["step"] == 40
    res2 = distil_to_file(tpath, tmp_path / "s1", student=SMALL, settings={**settings, "steps": 60}, name="student")
    assert res2["steps"] == 60 and json.loads((tmp_path / "s1.ckpt.json").read_text())["step"] == 60
    with pytest.raises(AivaInputError):
        distil_to_file(tpath, tmp_path / "s2", student={"g_width": -3}, settings=settings)


def test_distil_to_file_warm_starts_from_an_earlier_student(tmp_path):
    """``init``: the student starts from an earlier student's generating weights (its mean squared
    error to the teacher at step 0 is that student's, far below a fresh one's), the card records
    the start, and a start of another architecture is refused."""
    torch.manual_seed(0)
    flow = ConditionalFlow(FlowConfig(transforms=1, bins=4, hidden=8))
    card = {"name": "teacher", "target": "C12", "probe": "numu", "mode_code": 0, "channels": ["qe"],
            "energy_range_GeV": [0.5, 5.0], "xsec": {"E_GeV": [0.5, 5.0], "per_nucleon_1e-38cm2": [1.0, 2.0]}}
    tpath = save_model(flow, tmp_path / "teacher.safetensors", card)
    settings = {"steps": 300, "batch": 256, "pool": 4000, "refresh_every": 10, "seed": 3}
    first = distil_to_file(tpath, tmp_path / "first", student=SMALL, settings=settings, name="first")["model"]
    z, e, x = teacher_pairs(flow.sampler(), 3000, torch.Generator().manual_seed(8), (0.5, 5.0), SMALL["latent_dim"])

    def err(path):
        m, _ = load_model(path)
        with torch.inference_mode():
            return float(((m.sampler()(z, e) - x) ** 2).mean())

    few = {**settings, "steps": 1, "lr": 1e-9}
    warm = distil_to_file(tpath, tmp_path / "warm", student=SMALL, settings=few, name="warm", init=first)["model"]
    cold = distil_to_file(tpath, tmp_path / "cold", student=SMALL, settings=few, name="cold")["model"]
    assert err(warm) == pytest.approx(err(first), rel=0.05) and err(warm) < 0.5 * err(cold)
    wcard = json.loads((tmp_path / "warm.json").read_text())
    assert wcard["training"]["init"] == {"name": "first", "weights_sha256": json.loads(
        (tmp_path / "first.json").read_text())["weights_sha256"]}
    with pytest.raises(AivaInputError, match="init"):
        distil_to_file(tpath, tmp_path / "bad", student={**SMALL, "g_width": 16}, settings=few, init=first)


def test_generate_proxies_is_seeded_and_redraws_out_of_range():
    m = _trained_bn(GANConfig(**SMALL))
    enu = np.linspace(0.3, 10.0, 3000)
    p1, n1 = generate_proxies(m, enu, seed=5, batch=700)
    p2, n2 = generate_proxies(m, enu, seed=5, batch=700)
    assert np.array_equal(p1, p2) and n1 == n2
    assert np.all(np.abs(p1) <= 1)
    assert n1 > 0  # an untrained generator puts many proxies outside [−1, 1]: they were redrawn


def test_default_model_prefers_the_default_bar(tmp_path, monkeypatch):
    import aiva.models.io as io

    def ship(name, mean, mx, auc, speed):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
        card = {"name": name, "family": "gan", "probe": "numu", "target": "C12", "mode_code": 0,
                "metrics": {"evaluation": {"mean_MAP": mean, "max_MAP": mx, "max_C2ST_AUC": auc},
                            "speed": {"one_thread_s": speed}}}
        (tmp_path / f"{name}.json").write_text(json.dumps(card))

    monkeypatch.setattr(io, "MODELS_DIR", tmp_path)
    ship("flow-like", 1.03, 1.41, 0.508, 6.4)
    ship("fast-gan", 1.15, 1.45, 0.55, 1.2)  # meets the quality bar, not the default bar
    assert io.default_model() == ("flow-like", "the fastest shipped generator meeting the default bar")
    ship("fast-and-good", 1.04, 1.3, 0.51, 0.9)
    assert io.default_model()[0] == "fast-and-good"
    ship("fast-and-good", 1.04, 1.3, 0.53, 0.9)  # C2ST above 0.52: no longer
    assert io.default_model()[0] == "flow-like"


def test_a_distil_gan_recipe_builds_an_evaluated_student(tmp_path):
    """The build kind: parent by recipe, student architecture and settings from the recipe, the
    card records recipe and parent, the evaluation and the one-thread speed are written."""
    from aiva.build import Builder, describe, load_recipes
    from test_build_models import _tiny_recipes

    path = _tiny_recipes(tmp_path)
    path.write_text(path.read_text() + """
[models.toy-gan]
kind = "distil-gan"
family = "gan"
parent = { recipe = "toy-flow" }
student = { latent_dim = 4, g_blocks = 2, g_width = 16, d_blocks = 1, d_width = 8 }
distil = { steps = 20, batch = 64, pool = 1000, refresh_every = 10, seed = 2 }
evaluation = { kind = "quality", events = 500, energies = [1.0], c2st = false }
speed = { events = 20000, repeats = 1 }
""")
    rec = load_recipes(path)
    row = {r["name"]: r for r in describe(rec)}["toy-gan"]
    assert row["kind"] == "distil-gan" and row["seed"] == 2 and "20 steps" in row["data"]
    b = Builder(rec, tmp_path / "out", progress=False, rebuild_parents=True)
    w = b.build("toy-gan")
    _, card = load_model(w)
    assert card["family"] == "gan" and card["config"]["g_width"] == 16 and card["name"] == "toy-gan"
    assert card["recipe"]["kind"] == "distil-gan" and card["recipe"]["seeds"] == 2
    flow_card = json.loads((tmp_path / "out" / "toy-flow.json").read_text())
    assert card["parent"]["weights_sha256"] == flow_card["weights_sha256"]
    assert card["metrics"]["evaluation"]["per_energy"]["1.0"]["n_ref"] == 500
    assert card["metrics"]["speed"]["one_thread_s"] > 0 and card["metrics"]["speed"]["events"] == 20_000
    bad = path.read_text().replace('student = { latent_dim', 'studnt = { latent_dim')
    path.write_text(bad)
    with pytest.raises(AivaInputError, match="needs key"):
        load_recipes(path)
