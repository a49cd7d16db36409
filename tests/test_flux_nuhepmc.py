"""Flux-folded normalised generation and predictions for measurements (NuHepMC: test_nuhepmc.py)."""
import json

import numpy as np
import pytest
from scipy import integrate, stats

from aiva.errors import AivaInputError
from aiva.events import read_events
from aiva.events.table import EventTable
from aiva.mc.flux import Flux, list_fluxes, load_flux
from aiva.measurements import chi2, list_measurements, load_measurement, predict_bins
from aiva.models.io import load_model
from aiva.models.xsec import XsecCurve, flux_average, model_flux, reference_curve, sample_energies
from aiva.training.run import generate_to_file


@pytest.fixture(scope="module")
def curve():
    _, card = load_model("numu-C12-inclusive")
    return XsecCurve.from_card(card)


def test_model_cards_carry_cross_sections(curve):
    # the table follows the reference MC it was made from (nodes and between nodes)
    ref = reference_curve("C12", "numu")
    E = np.geomspace(0.31, 9.9, 50)
    assert np.allclose(curve(E), ref(E), rtol=1e-9)
    assert np.allclose(curve(E, per="nucleus"), 12 * curve(E))
    # physics: CC inclusive rises with E, sigma/E approaches ~0.7e-38 cm2/nucleon at 10 GeV
    assert np.all(np.diff(curve(np.geomspace(0.3, 10, 40))) > 0)
    assert 0.55 < curve(10.0) / 10.0 < 0.8
    with pytest.raises(AivaInputError, match="outside the cross-section table"):
        curve(12.0)


def test_flat_flux_average_matches_quadrature(curve, tmp_path):
    lo, hi = 0.5, 4.0
    f = Flux(np.array([lo, hi]), np.array([1.0]), name="flat")
    quad = integrate.quad(lambda e: float(curve(e)), lo, hi, limit=200)[0] / (hi - lo)
    assert flux_average(f, curve) == pytest.approx(quad, rel=1e-4)

    fcsv = tmp_path / "flat.csv"
    fcsv.write_text(f"x_low,x_high,content\n{lo},{hi},1\n")
    small = generate_to_file(model="numu-C12-inclusive", output=tmp_path / "a.parquet", n_events=2_000, seed=3,
                             flux=fcsv)
    big = generate_to_file(model="numu-C12-inclusive", output=tmp_path / "b.parquet", n_events=40_000, seed=4,
                           flux=fcsv)
    # total rate from the weights: the flux average, whatever the number of events
    assert small["weight"].sum() == pytest.approx(quad, rel=1e-4)
    assert big["weight"].sum() == pytest.approx(quad, rel=1e-4)
    # independent check of sampling and normalisation: with E ~ Φσ/∫Φσ and a flat flux,
    # E[1/σ(E)] = ∫Φ/∫Φσ, so the harmonic mean of σ at the event energies is <σ>
    inv = 1.0 / curve(big["Enu_true"])
    est, err = 1.0 / inv.mean(), inv.std() / np.sqrt(len(inv)) / inv.mean() ** 2
    assert abs(est - quad) < 4 * err, (est, quad, err)
    # the written file carries the weights and the flux average
    back = read_events(tmp_path / "b.parquet")
    assert np.allclose(back["weight"], big["weight"])
    assert back.metadata["flux_averaged_xsec"]["per_nucleon"] == pytest.approx(quad, rel=1e-4)


def test_energies_follow_flux_times_sigma(curve):
    f, removed = load_flux("t2k-nd280-numu").restrict(0.3, 10.0)
    assert 0.02 < removed < 0.15
    E = sample_energies(f, curve, 100_000, np.random.default_rng(5))
    edges = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 3.0, 10.0])
    exp = []
    for a, b in zip(edges[:-1], edges[1:]):
        g = np.linspace(a, b, 400)
        exp.append(np.trapezoid(f.density(g) * curve(g), g))
    exp = np.array(exp) / np.sum(exp) * len(E)
    obs, _ = np.histogram(E, edges)
    c2 = np.sum((obs - exp) ** 2 / exp)
    assert stats.chi2.sf(c2, len(exp) - 1) > 1e-3, c2
    # a flux peaked at 0.6 GeV times a rising sigma: the mean energy moves up from the flux's
    assert E.mean() > np.sum(f.content * 0.5 * (f.edges[1:] + f.edges[:-1])) / f.content.sum()


def test_same_seed_same_flux_events(tmp_path):
    a = generate_to_file(model="numu-C12-qe", output=tmp_path / "a.parquet", n_events=5_000, seed=9,
                         flux="t2k-nd280-numu", flux_range=(0.3, 10.0))
    b = generate_to_file(model="numu-C12-qe", output=tmp_path / "b.parquet", n_events=5_000, seed=9,
                         flux="t2k-nd280-numu", flux_range=(0.3, 10.0))
    for col in ("Enu_true", "ELep", "CosLep", "weight"):
        assert np.array_equal(a[col], b[col])


def test_flux_errors(tmp_path):
    _, card = load_model("numu-C12-inclusive")
    with pytest.raises(AivaInputError, match=r"outside the model's range \[0.3, 10\].*--flux-range"):
        model_flux(card, "t2k-nd280-numu")
    with pytest.raises(AivaInputError, match="numubar flux but model"):
        model_flux(card, "t2k-nd280-numubar", flux_range=(0.3, 10))
    for text, msg in (("x_low,x_high,content\n0.5,1.0,-1\n", "negative"),
                      ("x_low,x_high,content\n0.5,1.0,nan\n", "NaN"),
                      ("x_low,x_high,content\n1.0,1.5,1\n0.5,1.0,1\n", "not sorted")):
        p = tmp_path / "bad.csv"
        p.write_text(text)
        with pytest.raises(AivaInputError, match=msg) as ei:
            model_flux(card, p)
        assert "bad.csv" in str(ei.value)
    with pytest.raises(AivaInputError, match="no such flux file or shipped flux"):
        load_flux("no-such-beam")


def test_flux_restrict_and_density():
    f = Flux(np.array([0.0, 1.0, 3.0]), np.array([2.0, 4.0]))
    r, removed = f.restrict(0.5, 2.0)
    assert np.allclose(r.edges, [0.5, 1.0, 2.0]) and np.allclose(r.content, [1.0, 2.0])
    assert removed == pytest.approx(1 - 3.0 / 6.0)


def test_shipped_fluxes_have_provenance():
    fl = list_fluxes()
    names = {f.meta["name"] for f in fl}
    assert {"t2k-nd280-numu", "microboone-bnb-numu", "minerva-le-numu", "dune-nd-numu"} <= names
    for f in fl:
        assert f.meta["probe"] in ("numu", "numubar") and f.meta["cite"] and f.meta["source"]
    # T2K ND280 peaks near 0.6 GeV; MINERvA LE near 3 GeV
    t2k = load_flux("t2k-nd280-numu")
    c = 0.5 * (t2k.edges[1:] + t2k.edges[:-1])
    assert 0.45 < c[np.argmax(t2k.content / np.diff(t2k.edges))] < 0.75


# ---------------------------------------------------------------- measurements and predictions

def _toy_measurement(tmp_path, cov=True, smear=None):
    d = tmp_path / "toy"
    d.mkdir(exist_ok=True)
    (d / "measurement.json").write_text(json.dumps({"name": "toy", "target": "C12", "probe": "numu",
                                                    "last_p_bin_overflow": True}))
    (d / "data.csv").write_text("bin,cos_lo,cos_hi,p_lo_GeV,p_hi_GeV,xsec,error\n"
                                "0,0,1,0,0.5,1.0,0.1\n1,0,1,0.5,1.0,2.0,0.2\n2,-1,0,0,1.0,0.5,0.1\n")
    if cov:
        np.savetxt(d / "covariance.csv", np.diag([0.01, 0.04, 0.01]) + 0.001, delimiter=",")
    if smear is not None:
        np.savetxt(d / "smearing.csv", smear, delimiter=",")
    return d


def _toy_events(p, cos, w):
    n = len(p)
    mmu = 0.1056583755
    return EventTable({"Enu_true": np.full(n, 3.0), "PDGnu": np.full(n, 14, np.int32), "tgta": np.full(n, 12, np.int32),
                       "tgtz": np.full(n, 6, np.int32), "PDGLep": np.full(n, 13, np.int32),
                       "ELep": np.sqrt(np.asarray(p) ** 2 + mmu ** 2), "CosLep": np.asarray(cos, float),
                       "Mode": np.ones(n, np.int32), "weight": np.asarray(w, float)}, {})


def test_prediction_in_measurement_bins_and_chi2(tmp_path):
    m = load_measurement(_toy_measurement(tmp_path))
    ev = _toy_events([0.2, 0.7, 1.7, 0.3, 0.9], [0.5, 0.5, 0.9, -0.5, 1.0], [0.1, 0.2, 0.3, 0.4, 0.5])
    pred = predict_bins(ev, m)
    # bin 1 takes p = 0.7, the overflow p = 1.7 and the cos = 1 event (p = 0.9): 0.2 + 0.3 + 0.5, / (1 × 0.5)
    assert np.allclose(pred, [0.1 / 0.5, 1.0 / 0.5, 0.4 / 1.0])
    r = m.values - pred
    assert chi2(m, pred) == pytest.approx(r @ np.linalg.inv(m.covariance) @ r)
    S = np.array([[0.8, 0.1, 0.0], [0.2, 0.9, 0.0], [0.0, 0.0, 1.0]])
    ms = load_measurement(_toy_measurement(tmp_path, smear=S))
    assert np.allclose(predict_bins(ev, ms), S @ (pred * m.widths) / m.widths)


def test_measurement_errors(tmp_path):
    with pytest.raises(AivaInputError, match="no covariance"):
        load_measurement(_toy_measurement(tmp_path, cov=False))
    d = _toy_measurement(tmp_path)
    np.savetxt(d / "covariance.csv", np.eye(2), delimiter=",")
    with pytest.raises(AivaInputError, match=r"shape \(2, 2\), expected \(3, 3\)"):
        load_measurement(d)
    np.savetxt(d / "covariance.csv", np.diag([1.0, -1.0, 1.0]), delimiter=",")
    with pytest.raises(AivaInputError, match="not positive definite"):
        load_measurement(d)
    m = load_measurement(_toy_measurement(tmp_path))
    ev = _toy_events([0.2], [0.5], [1.0])
    del ev.columns["weight"]
    with pytest.raises(AivaInputError, match="column 'weight'"):
        predict_bins(ev, m)
    with pytest.raises(AivaInputError, match="no such measurement"):
        load_measurement("no-such-measurement")


def test_published_predictions_load_in_data_order_and_bad_files_are_refused(tmp_path):
    t2k = load_measurement("t2k-ccinc-2018-C")
    assert set(t2k.predictions) == {"NEUT 5.3.2", "GENIE 2.8.0"}
    for v in t2k.predictions.values():
        # in the data's unit and bin order: the same flux-integrated total within 15 %, bin by bin correlated
        assert abs(np.sum(v * t2k.widths) / np.sum(t2k.values * t2k.widths) - 1) < 0.15
        assert np.corrcoef(v, t2k.values)[0, 1] > 0.9
    assert load_measurement("microboone-ccinc-2019-Ar").predictions == {}
    d = _toy_measurement(tmp_path)
    (d / "predictions.csv").write_text("bin,G\n0,1\n1,2\n")
    with pytest.raises(AivaInputError, match="predictions.csv: needs 3 rows"):
        load_measurement(d)
    (d / "predictions.csv").write_text("bin,G\n0,1\n1,x\n2,3\n")
    with pytest.raises(AivaInputError, match="predictions.csv: non-numeric"):
        load_measurement(d)
    (d / "predictions.csv").write_text("bin,G\n0,1\n1,nan\n2,3\n")
    with pytest.raises(AivaInputError, match="column 'G': NaN"):
        load_measurement(d)
    (d / "predictions.csv").write_text("bin,G\n0,1\n1,2\n2,3\n")
    assert np.array_equal(load_measurement(d).predictions["G"], [1.0, 2.0, 3.0])


def test_shipped_measurements():
    ms = {m.name: m for m in list_measurements()}
    t2k, ub = ms["t2k-ccinc-2018-C"], ms["microboone-ccinc-2019-Ar"]
    assert len(t2k.values) == 71 and t2k.covariance.shape == (71, 71) and t2k.smearing is None
    assert len(ub.values) == 42 and ub.smearing.shape == (42, 42)
    # the published errors are the covariance's diagonal; the smearing matrix's columns (true bins) sum to ~1
    assert np.allclose(np.sqrt(np.diag(t2k.covariance)), t2k.errors, rtol=1e-3)
    assert np.allclose(ub.smearing.sum(axis=0), 1.0, atol=0.01)
    # flux-integrated cross section from the T2K data: about 0.7e-38 cm2/nucleon (PRD 98, 012004)
    assert 0.55 < np.sum(t2k.values * t2k.widths) < 0.85


def test_predict_cli_model_and_reference_mc(tmp_path):
    from aiva.cli import main

    assert main(["simulate", "--flux", "t2k-nd280-numu-ccinc2018", "--events", "20000", "-q", "--seed", "3",
                 "-o", str(tmp_path / "mc.parquet")]) == 0
    assert main(["predict", "--measurement", "t2k-ccinc-2018-C", "--model", "numu-C12-inclusive", "--flux-range", "0.3",
                 "10", "--n-events", "20000", "--events", str(tmp_path / "mc.parquet"), "--out",
                 str(tmp_path / "p")]) == 0
    res = json.loads((tmp_path / "p" / "result.json").read_text())
    assert (tmp_path / "p" / "prediction.png").stat().st_size > 10_000
    by = {r["prediction_from"]: r for r in res["predictions"]}
    assert by["mc.parquet"]["ndf"] == 71 and np.isfinite(by["mc.parquet"]["chi2"])
    # the reference MC describes the T2K data within a few units of chi2/ndf; a wrong normalisation would not
    assert by["mc.parquet"]["chi2_per_ndf"] < 10
    assert 0.02 < by["numu-C12-inclusive"]["fraction_of_flux_outside_model_range"] < 0.15
    # the release's own NEUT 5.3.2 and GENIE 2.8.0 predictions are scored beside the models
    for gen in ("NEUT 5.3.2", "GENIE 2.8.0"):
        r = by[f"{gen} (published)"]
        assert r["published_prediction"] and "histograms.root" in r["source"] and r["ndf"] == 71
        assert 1 < r["chi2_per_ndf"] < 10
    header = (tmp_path / "p" / "prediction.csv").read_text().splitlines()[0]
    assert header.endswith("NEUT 5.3.2 (published),GENIE 2.8.0 (published)")
    assert main(["predict", "--measurement", "microboone-ccinc-2019-Ar", "--model", "numu-C12-inclusive",
                 "--out", str(tmp_path / "q")]) == 2  # argon measurement, carbon model: clear error


def test_flux_from_root_th1(tmp_path):
    import uproot

    edges = np.array([0.3, 0.5, 1.0, 2.0])
    dens = np.array([2.0, 4.0, 1.0])  # per GeV
    with uproot.recreate(tmp_path / "flux.root") as f:
        f["numu_flux"] = (dens, edges)
    fl = load_flux(f"{tmp_path / 'flux.root'}:numu_flux", content="density")
    assert np.allclose(fl.edges, edges) and np.allclose(fl.content, dens * np.diff(edges))
    assert np.allclose(load_flux(f"{tmp_path / 'flux.root'}:numu_flux").content, dens)
    with pytest.raises(AivaInputError, match="no histogram 'nope'.*numu_flux"):
        load_flux(f"{tmp_path / 'flux.root'}:nope")
