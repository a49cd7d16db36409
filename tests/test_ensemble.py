"""Ensembles: coverage definition, training K bootstrap members, bands through the CLI."""
import json

import numpy as np
import pytest

from aiva.cli import main
from aiva.errors import AivaInputError
from aiva.models.ensemble import Band, load_ensemble


def test_coverage_of_members_drawn_from_the_reference_distribution():
    """Members and reference are samples of one distribution, n events each, K = 400 members:
    the ensemble mean is the truth to 1/20 σ, σ_ens equals the reference's Poisson σ, so
    |ref − mean| ≤ √(σ_ens² + σ_ref²) = √2 σ holds in P(|Z| ≤ √2) = 84.3 % of bins."""
    rng = np.random.default_rng(3)
    edges = np.linspace(-3, 3, 201)
    n, k = 200_000, 400
    p = np.diff(0.5 * (1 + np.vectorize(__import__("math").erf)(edges / np.sqrt(2))))
    members = rng.multinomial(n, p / p.sum(), size=k) / n
    band = Band("x", edges, members, n)
    cov = band.coverage(rng.standard_normal(n))
    assert cov["bins"] >= 195
    assert abs(cov["fraction"] - 0.843) < 0.07


def test_coverage_falls_for_a_biased_ensemble():
    rng = np.random.default_rng(4)
    edges = np.linspace(-3, 3, 61)
    n = 100_000
    members = np.array([np.histogram(rng.normal(0.1, 1.0, n), edges)[0] / n for _ in range(5)])
    cov = Band("x", edges, members, n).coverage(rng.standard_normal(n))
    assert cov["fraction"] < 0.3


@pytest.fixture(scope="module")
def small_ensemble(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    assert main(["simulate", "--target", "C12", "--events", "20000", "--energy-range", "0.3", "10", "--seed", "5",
                 "-o", str(d / "train.parquet")]) == 0
    cfg = d / "tiny.toml"
    cfg.write_text("[model]\ntransforms = 2\nbins = 8\nhidden = 16\n[training]\nbatch_size = 512\nval_events = 2000\n"
                   "val_energies = [1.0]\n")
    assert main(["train", "--family", "flow", "--data", str(d / "train.parquet"), "--out", str(d / "ens"),
                 "--config", str(cfg), "--epochs", "1", "--ensemble", "3", "-q"]) == 0
    return d


def test_ensemble_training_writes_bootstrap_members(small_ensemble):
    man = json.loads((small_ensemble / "ens" / "ensemble.json").read_text())
    assert man["format"] == "aiva-ensemble-1" and len(man["members"]) == 3 and man["seeds"] == [1, 2, 3]
    models, cards, _ = load_ensemble(small_ensemble / "ens")
    assert [c["training"]["ensemble"]["member"] for c in cards] == [0, 1, 2]
    w = [np.concatenate([v.ravel().numpy() for v in m.state().values()]) for m in models]
    assert not np.allclose(w[0], w[1])  # different seeds and resamples give different members


def test_generate_and_evaluate_ensemble_bands(small_ensemble, tmp_path):
    out = tmp_path / "bands.json"
    assert main(["generate", "--ensemble", str(small_ensemble / "ens"), "--energy", "1.0", "--events", "20000",
                 "--hist", "Emu,W", "-o", str(out)]) == 0
    b = json.loads(out.read_text())["bands"]
    assert set(b) == {"Emu", "W"}
    m = np.array(b["W"]["members"])
    assert m.shape[0] == 3 and np.allclose(np.array(b["W"]["mean"]), m.mean(axis=0))
    assert np.allclose(np.array(b["W"]["std"]), m.std(axis=0, ddof=1)) and np.max(b["W"]["std"]) > 0
    assert abs(sum(b["Emu"]["mean"]) - 1.0) < 1e-9  # E_mu in [0, E_nu]: every event in a bin
    ev = tmp_path / "ev"
    assert main(["evaluate", "--ensemble", str(small_ensemble / "ens"), "--simulate", "--events", "20000",
                 "--energies", "1.0", "--out", str(ev)]) == 0
    res = json.loads((ev / "metrics.json").read_text())
    assert 0 <= res["per_energy"]["1.0"]["W"]["fraction"] <= 1 and (ev / "bands_E1GeV.png").exists()


def test_ensemble_errors(small_ensemble, tmp_path, capsys):
    with pytest.raises(AivaInputError, match="ensemble.json"):
        load_ensemble(tmp_path)
    ens = str(small_ensemble / "ens")
    assert main(["generate", "--ensemble", ens, "--energy", "20", "--events", "100", "-o",
                 str(tmp_path / "b.json")]) == 2
    assert "outside the ensemble's trained range" in capsys.readouterr().err
    assert main(["generate", "--ensemble", ens, "--energy", "1", "--events", "100", "--hist", "Enu",
                 "-o", str(tmp_path / "b.json")]) == 2
    assert "unknown histogram variable" in capsys.readouterr().err
    assert main(["generate", "--ensemble", ens, "--energy", "1", "--events", "100", "-o", str(tmp_path / "b.txt")]) == 2
    assert ".json or .csv" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "b.txt").exists()
