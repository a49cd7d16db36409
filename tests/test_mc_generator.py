"""Event generation of the reference Monte Carlo: peaks, seeds, fluxes, CLI, errors."""

import numpy as np
import pytest

from aiva.cli import main
from aiva.errors import AivaInputError
from aiva.events import read_events
from aiva.mc import Flux, simulate
from aiva.metrics import map_2d
from aiva.physics import constants as C


@pytest.fixture(scope="module")
def c12_1gev():
    """MC v1's channels: the lepton physics the shipped generators learned."""
    return simulate("C12", "numu", 200_000, energy=1.0, seed=11, channels=("qe", "res", "dis"))


def _peaks(W, lo, hi, bins):
    h, e = np.histogram(W, bins)
    c = 0.5 * (e[1:] + e[:-1])
    m = (c > lo) & (c < hi)
    i = np.argmax(np.where(m, h, -1))
    return c[i], h[i], h, c


def test_w_spectrum_from_muon_has_qe_and_delta_peaks(c12_1gev):
    W = c12_1gev.kinematics()["W"]
    bins = np.arange(0.7, 1.8, 0.02)  # 20 MeV bins
    wq, hq, h, c = _peaks(W, 0.85, 1.08, bins)
    wd, hd, _, _ = _peaks(W, 1.12, 1.40, bins)
    # QE peak near the nucleon mass (shifted up by binding), Delta peak near 1.232 GeV
    assert 0.90 < wq < 1.02, wq
    assert 1.18 < wd < 1.30, wd
    # a real dip between them: the minimum in between is below both maxima by > 20 %
    between = h[(c > wq) & (c < wd)]
    assert between.min() < 0.8 * min(hq, hd)


def test_modes_and_columns(c12_1gev):
    t = c12_1gev
    assert set(np.unique(t["Mode"])) <= {1, 11, 12, 13, 21, 26}
    assert np.all(t["PDGLep"] == 13) and np.all(t["tgta"] == 12) and np.all(t["tgtz"] == 6)
    assert np.all(t["ELep"] <= t["Enu_true"]) and np.all(t["ELep"] >= C.M_MUON)
    assert np.all(np.abs(t["CosLep"]) <= 1)
    # QE events carry the outgoing proton mass as W; Delta events W above the pi N threshold
    assert np.allclose(t["W"][t["Mode"] == 1], C.M_PROTON)
    assert np.all(t["W"][t["Mode"] == 11] > C.M_NUCLEON + C.M_PION_NEUTRAL - 1e-9)
    frac_qe = np.mean(t["Mode"] == 1)
    xs = t.metadata["xsec_1e-38cm2"]["per_nucleus"]
    assert frac_qe == pytest.approx(xs["qe"] / sum(xs.values()), abs=0.01)


def test_same_seed_same_events_different_seed_different():
    a = simulate("C12", "numu", 5000, energy_range=(0.3, 10), seed=5)
    b = simulate("C12", "numu", 5000, energy_range=(0.3, 10), seed=5)
    c = simulate("C12", "numu", 5000, energy_range=(0.3, 10), seed=6)
    for k in a.names:
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["ELep"], c["ELep"])


def test_chunking_independent_of_workers():
    a = simulate("C12", "numu", 150_000, energy=2.0, seed=3, workers=1)
    b = simulate("C12", "numu", 150_000, energy=2.0, seed=3, workers=2)
    assert np.array_equal(a["ELep"], b["ELep"]) and np.array_equal(a["Mode"], b["Mode"])


def test_argon_qe_peak_broader_than_carbon(c12_1gev):
    ar = simulate("Ar40", "numu", 100_000, energy=1.0, seed=2, channels=("qe",))
    wc = c12_1gev.kinematics()["W"][c12_1gev["Mode"] == 1]
    wa = ar.kinematics()["W"]
    iqr = lambda x: np.subtract(*np.nanpercentile(x, [75, 25]))  # noqa: E731
    assert iqr(wa) > 1.05 * iqr(wc)  # k_F(Ar) = 0.251 > k_F(C) = 0.221 GeV


def test_default_and_alt_are_distinguishable(c12_1gev):
    v1 = ("qe", "res", "dis")
    alt = simulate("C12", "numu", 200_000, energy=1.0, seed=12, config="alt", channels=v1)
    again = simulate("C12", "numu", 200_000, energy=1.0, seed=13, channels=v1)
    p = lambda t: np.column_stack(t.proxies()[1:])  # noqa: E731
    same = map_2d(p(c12_1gev), p(again))
    diff = map_2d(p(c12_1gev), p(alt))
    assert abs(same - 0.80) < 0.05
    assert diff > 1.5


def test_flux_sampling_follows_flux_times_sigma(tmp_path):
    f = tmp_path / "flux.csv"
    f.write_text("# two-bin test flux\nx_low,x_high,content\n0.5,1.0,1.0\n1.0,1.5,1.0\n")
    t = simulate("C12", "numu", 40_000, flux=f, seed=4)
    from aiva.mc.generator import get_table
    from aiva.mc.config import get_config
    from aiva.physics import get_probe, get_target

    tab = get_table(get_target("C12"), get_probe("numu"), get_config("default"))
    e = np.linspace(0.5, 1.5, 2001)
    s = sum(tab.sigma(c, e) for c in ("qe", "res", "dis"))
    edges = np.linspace(0.5, 1.5, 11)
    expected = np.array([np.trapezoid(s[(e >= a) & (e <= b)], e[(e >= a) & (e <= b)]) for a, b in zip(edges[:-1],
                                                                                                      edges[1:])])
    expected = expected / expected.sum() * len(t)
    obs, _ = np.histogram(t["Enu_true"], edges)
    chi2 = np.sum((obs - expected) ** 2 / expected)
    assert chi2 < 30, chi2  # 9 dof: p ~ 4e-4
    assert t.metadata["xsec_1e-38cm2"]["how"] == "flux-averaged"


@pytest.mark.parametrize("text, msg", [
    ("x_low,x_high,content\n0.5,1.0,-1\n", "negative values"),
    ("x_low,x_high,content\n0.5,1.0,nan\n", "NaN or infinite"),
    ("x_low,x_high,content\n1.0,1.5,1\n0.5,1.0,1\n", "not contiguous or not sorted"),
    ("x_low,x_high,content\n500,1000,1\n1000,2000,1\n", "look like MeV"),
    ("a,b,c\n1,2,3\n", "header must contain"),
])
def test_bad_flux_files(tmp_path, text, msg):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(AivaInputError, match=msg) as ei:
        Flux.from_csv(f)
    assert "bad.csv" in str(ei.value)


def test_bad_simulate_arguments():
    with pytest.raises(AivaInputError, match="unknown physics configuration"):
        simulate("C12", "numu", 10, energy=1.0, config="nope")
    with pytest.raises(AivaInputError, match="unknown target"):
        simulate("Pb208", "numu", 10, energy=1.0)
    with pytest.raises(AivaInputError, match="exactly one"):
        simulate("C12", "numu", 10, energy=1.0, energy_range=(1, 2))
    with pytest.raises(AivaInputError, match="below threshold"):
        simulate("H1", "numu", 10, energy=1.0, channels=("qe",))
    with pytest.raises(AivaInputError, match="unknown channel"):
        simulate("C12", "numu", 10, energy=1.0, channels=("nope",))


def test_cli_simulate_plot_and_xsec(tmp_path, capsys):
    out = tmp_path / "ev.parquet"
    rc = main(["simulate", "--target", "O16", "--probe", "numubar", "--energy-range", "0.3", "10", "--events",
               "3000", "--seed", "1", "-o", str(out), "--plot", "-q"])
    assert rc == 0
    t = read_events(out)
    assert len(t) == 3000 and np.all(t["PDGnu"] == -14) and np.all(t["Mode"] < 0)
    assert t.metadata["seed"] == 1 and t.metadata["config"]["name"] == "default"
    assert out.with_suffix(".png").stat().st_size > 10_000
    csv = tmp_path / "x.csv"
    assert main(["xsec", "--target", "Ar40", "--probe", "numu", "--points", "4", "-o", str(csv)]) == 0
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("E_GeV,qe_per_nucleus") and len(lines) == 5
    assert "total_per_nucleon" in lines[0]
    assert main(["simulate", "--config", "bogus", "--energy", "1", "-o", str(out)]) == 2
    assert "unknown physics configuration" in capsys.readouterr().err


def test_2p2h_fills_the_dip(c12_1gev):
    from aiva.mc import DEFAULT_CHANNELS

    assert {"mec", "coh"} <= set(DEFAULT_CHANNELS)  # on by default since MC v2
    t = simulate("C12", "numu", 100_000, energy=1.0, seed=21, channels=("qe", "res", "dis", "mec"))
    mec = t["Mode"] == 2
    frac = mec.mean()
    xs = t.metadata["xsec_1e-38cm2"]["per_nucleus"]
    assert 0.05 < frac < 0.2 and frac == pytest.approx(xs["mec"] / sum(xs.values()), abs=0.01)
    W = t.kinematics()["W"]
    wq = np.nanmedian(W[t["Mode"] == 1])
    wd = np.nanmedian(W[t["Mode"] == 11])
    assert wq < np.nanmedian(W[mec]) < wd  # between the QE and Delta peaks
    assert simulate("H1", "numu", 10, energy=1.0, channels=("res",
                                                            "mec")).metadata["xsec_1e-38cm2"]["per_nucleus"]["mec"] == 0
