"""Equal-weight mixtures of generators: sampling, likelihood, storage, `aiva transfer --members`."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from aiva.errors import AivaInputError
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.gan import ConditionalGAN
from aiva.models.generate import generate_events
from aiva.models.io import load_model, save_model
from aiva.models.mixture import mix_models
from test_gan import CARD, SMALL, _mc_file

CFG = FlowConfig(transforms=2, bins=8, hidden=16)


def _flows(k, seed=0):
    torch.manual_seed(seed)
    return [ConditionalFlow(CFG) for _ in range(k)], [{**CARD, "name": f"f{i}", "family": "flow",
                                                       "config": CFG.to_dict()} for i in range(k)]


def test_each_event_comes_from_one_member_in_equal_shares():
    """Row by row, the mixture's output is its picked member's output for the same latent; the
    picks are Binomial(N, 1/K) per member."""
    members, cards = _flows(3)
    mix, _ = mix_models(members, cards, "mix")
    s = mix.sampler()
    assert s.latent_dim == 3
    n = 30_000
    g = torch.Generator().manual_seed(1)
    z, e = torch.randn(n, 3, generator=g), torch.rand(n, 1, generator=g) * 2 - 1
    with torch.no_grad():
        out = s(z, e)
        pick = torch.clamp((0.5 * (1 + torch.erf(z[:, -1] / 2 ** 0.5)) * 3).long(), 0, 2)
        for k, m in enumerate(members):
            rows = pick == k
            assert torch.allclose(out[rows], m.sampler()(z[rows, :2], e[rows]), atol=1e-6)
            assert abs(rows.sum().item() - n / 3) < 4 * (n * (1 / 3) * (2 / 3)) ** 0.5


def test_log_prob_is_the_average_density_and_round_trip(tmp_path):
    members, cards = _flows(2, seed=4)
    mix, card = mix_models(members, cards, "mix")
    x = torch.rand(50, 2) - 0.5
    e = torch.rand(50, 1) * 2 - 1
    with torch.no_grad():
        expect = torch.log(0.5 * (members[0].log_prob(x, e).exp() + members[1].log_prob(x, e).exp()))
        assert torch.allclose(mix.log_prob(x, e), expect, atol=1e-5)
    w = save_model(mix, tmp_path / "mix", card)
    back, bcard = load_model(w)
    assert bcard["family"] == "mixture" and [m["name"] for m in bcard["mixture"]] == ["f0", "f1"]
    E = np.full(5000, 2.0)
    a, b = generate_events(mix, card, E, seed=3), generate_events(back, bcard, E, seed=3)
    assert np.array_equal(a["ELep"], b["ELep"])  # same seed, same events, after the round trip
    assert not np.array_equal(a["ELep"], generate_events(back, bcard, E, seed=4)["ELep"])
    # weights that lack a member are refused with the file named
    t = load_file(str(w))
    save_file({k: v for k, v in t.items() if not k.startswith("m1.")}, str(w))
    cardj = json.loads(w.with_suffix(".json").read_text())
    cardj.pop("weights_sha256")
    w.with_suffix(".json").write_text(json.dumps(cardj))
    with pytest.raises(AivaInputError, match="mix.safetensors.*member 1"):
        load_model(w)


def test_members_must_agree():
    members, cards = _flows(2)
    with pytest.raises(AivaInputError, match="differ in 'target'"):
        mix_models(members, [cards[0], {**cards[1], "target": "Ar40"}], "mix")
    with pytest.raises(AivaInputError, match="at least 2"):
        mix_models(members[:1], cards[:1], "mix")


def test_cli_transfer_members_makes_a_mixture_of_fine_tunes(tmp_path, capsys):
    """`aiva transfer --members 2`: two fine-tunes with seeds s, s+1 on the same events, each with
    the frozen blocks of the parent, combined into one model whose card names the parent, the
    members and the mixture's own validation MAP; a mixture cannot itself be a transfer base."""
    from aiva.cli import main

    torch.manual_seed(0)
    base_model = ConditionalFlow(CFG)
    base = save_model(base_model, tmp_path / "base", {**CARD, "name": "base-flow"})
    data, _ = _mc_file(tmp_path, "ar.parquet", energy_range=(0.3, 10.0))
    out = tmp_path / "tl"
    assert main(["transfer", "--base", str(base), "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--val-events", "2000", "--seed", "5", "--members", "2", "-q"]) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["family"] == "mixture" and card["parent"]["name"] == "base-flow" and card["target"] == "Ar40"
    assert card["training"]["members"]["seeds"] == [5, 6]
    assert [m["seed"] for m in card["mixture"]] == [5, 6]
    assert 0 < card["metrics"]["validation"]["mean_MAP"] < 50
    mix, mcard = load_model(out / "model.safetensors")
    for k in range(2):
        m, _ = load_model(out / f"member-{k}" / "model.safetensors")
        assert torch.equal(m.flow.transform.transforms[0].hyper[0].weight,
                           base_model.flow.transform.transforms[0].hyper[0].weight)  # t0 frozen (default)
        assert all(torch.equal(a, b) for a, b in zip(m.state().values(), mix.members[k].state().values()))
    s0 = load_model(out / "member-0" / "model.safetensors")[0].state()
    s1 = load_model(out / "member-1" / "model.safetensors")[0].state()
    assert any(not torch.equal(s0[n], s1[n]) for n in s0)  # different seeds, different fine-tunes
    t = generate_events(mix, mcard, np.full(2000, 1.0), seed=1)
    assert np.all(t["ELep"] <= t["Enu_true"]) and np.all(t["tgta"] == 40)
    capsys.readouterr()
    assert main(["transfer", "--base", str(out / "model.safetensors"), "--data", str(data), "--out",
                 str(tmp_path / "again"), "-q"]) == 2
    assert "a mixture cannot be a transfer base" in capsys.readouterr().err
    assert main(["transfer", "--base", str(base), "--data", str(data), "--out", str(tmp_path / "z"),
                 "--members", "0", "-q"]) == 2


def test_gan_members_mix_too():
    torch.manual_seed(0)
    gans = [ConditionalGAN(SMALL) for _ in range(2)]
    cards = [{**CARD, "family": "gan", "config": SMALL.to_dict()} for _ in range(2)]
    mix, card = mix_models(gans, cards, "gmix")
    assert mix.sampler().latent_dim == SMALL.latent_dim + 1
    t = generate_events(mix, card, np.full(3000, 3.0), seed=2)
    assert np.all(np.isfinite(t["ELep"])) and np.all(t["ELep"] <= t["Enu_true"])
    assert not mix.has_likelihood
    with pytest.raises(AivaInputError, match="no likelihood"):
        mix.log_prob(torch.zeros(3, 2), torch.zeros(3, 1))
    from aiva.models.reweight import log_prob  # reweighting asks the capability, names what it got
    with pytest.raises(AivaInputError, match="not 'mixture of gan'"):
        log_prob(mix, generate_events(gans[0], cards[0], np.full(10, 3.0), seed=1))


def test_reweighting_from_a_member_to_the_mixture(tmp_path):
    """w = p_mix/p_1 = (1 + p_2/p_1)/2 event by event (so w ≥ 1/2)."""
    from aiva.models.reweight import likelihood_ratio

    members, cards = _flows(2, seed=7)
    mix, card = mix_models(members, cards, "mix")
    assert mix.has_likelihood and members[0].has_likelihood  # what reweighting and `aiva update` ask
    t = generate_events(members[0], cards[0], np.full(40_000, 1.5), seed=9)
    w = likelihood_ratio(members[0], mix, t)
    assert np.allclose(w, 0.5 * (1 + likelihood_ratio(members[0], members[1], t)), rtol=1e-9)
    assert w.min() >= 0.5 - 1e-9 and w.std() > 0.05
    with pytest.raises(AivaInputError, match="mixture of flows"):
        likelihood_ratio(ConditionalGAN(SMALL), mix, t)
