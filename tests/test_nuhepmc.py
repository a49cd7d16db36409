"""NuHepMC 1.0 (arXiv:2310.13211; github.com/NuHepMC/Spec): aiva's writer against the validator
written from the spec, reading other generators' files, normalisation and error paths."""
from pathlib import Path

import numpy as np
import pyhepmc as hp
import pytest
from scipy import stats

from aiva.errors import EventFileError
from aiva.events import read_events, write_events
from aiva.mc.run import writer_options
from aiva.events.hepmc import nuhepmc_xsec_weights, write_nuhepmc
from aiva.events.nuhepmc_check import check_nuhepmc
from aiva.mc.flux import load_flux
from aiva.training.run import generate_to_file

DATA = Path(__file__).parent / "data" / "nuhepmc"
NUWRO_V1, NUWRO_V09 = DATA / "nuwro_spec_v1.0.0.hepmc3", DATA / "nuwro_spec_v0.9.0.hepmc3"


def _lines(path):
    return path.read_text().splitlines()


def _run_attr(path, key):
    return next(line.split(" ", 2)[2] for line in _lines(path) if line.startswith(f"A {key} "))


@pytest.fixture(scope="module")
def flux_mc():
    from aiva.mc import simulate

    return simulate("C12", "numu", 3_000, flux=load_flux("t2k-nd280-numu").restrict(0.3, 10)[0], seed=8,
                    channels=("qe", "res", "dis", "mec"))


def test_flux_run_conforms_and_round_trips(flux_mc, tmp_path):
    t = flux_mc
    bare = write_events(t, tmp_path / "bare.hepmc3")  # no producer information: valid, no per-event sigma
    assert check_nuhepmc(bare) == [] and "E.C.2" not in _run_attr(bare, "NuHepMC.Conventions")
    path = tmp_path / "ev.hepmc3"
    write_events(t, path, **writer_options(t, path))  # as `aiva simulate -o ev.hepmc3` writes it
    assert check_nuhepmc(path) == []
    back = read_events(path)
    for col in ("Enu_true", "ELep", "PDGnu", "tgta", "tgtz", "PDGLep", "Mode", "weight"):
        assert np.allclose(back[col], t[col], rtol=1e-12, atol=0), col
    assert np.allclose(back["CosLep"], t["CosLep"], atol=1e-12)
    # G.C.2 in the reserved units of G.R.6: pb per atom = 1e-38 cm2 per nucleon x A / 100
    assert float(_run_attr(path, "NuHepMC.FluxAveragedTotalCrossSection")) == pytest.approx(
        t["weight"].sum() * 12 / 100, rel=1e-12)
    assert _run_attr(path, "NuHepMC.Units.CrossSection.Unit") == "pb"
    assert _run_attr(path, "NuHepMC.Beam[14].Type") == "Histogram"
    assert back.metadata["flux_averaged_xsec"]["per_nucleon"] == pytest.approx(t["weight"].sum(), rel=1e-12)
    text = path.read_text()
    assert "signal_process_id" in text and "lab_pos" in text and "ProcID" not in text and "LabPos" not in text
    assert "E.C.2" in _run_attr(path, "NuHepMC.Conventions") and text.count(" tot_xs ") == len(t)


def test_fixed_energy_run_carries_fatx(tmp_path):
    from aiva.mc import simulate

    t = simulate("Ar40", "numubar", 500, energy=2.0, seed=2)
    path = write_events(t, tmp_path / "nubar.hepmc3", **writer_options(t, "nubar.hepmc3"))
    assert check_nuhepmc(path) == []
    sigma = t.metadata["xsec_1e-38cm2"]["total_per_nucleon"]
    assert float(_run_attr(path, "NuHepMC.FluxAveragedTotalCrossSection")) == pytest.approx(sigma * 40 / 100, rel=1e-12)
    assert _run_attr(path, "NuHepMC.Beam[-14].Type") == "MonoEnergetic"
    back = read_events(path)
    assert np.array_equal(back["Mode"], t["Mode"]) and np.all(back["Mode"] < 0)
    assert set(back["tgtz"]) == {18} and set(back["tgta"]) == {40} and set(back["PDGLep"]) == {-13}
    assert back["weight"].sum() == pytest.approx(sigma, rel=1e-12)  # sigma(E) shared over the events


def test_model_events(tmp_path):
    g = generate_to_file(model="numu-C12-inclusive", output=tmp_path / "g.hepmc3", n_events=500, seed=1,
                         flux="t2k-nd280-numu", flux_range=(0.3, 10))
    assert check_nuhepmc(tmp_path / "g.hepmc3") == []
    assert np.allclose(read_events(tmp_path / "g.hepmc3")["ELep"], g["ELep"])
    prov = {line.split()[1]: line.split(" ", 2)[2] for line in _lines(tmp_path / "g.hepmc3")
            if line.startswith("A NuHepMC.Provenance.aiva.")}
    assert prov["NuHepMC.Provenance.aiva.Model"] == "numu-C12-inclusive"
    assert len(prov["NuHepMC.Provenance.aiva.ModelSHA256"]) == 64 and prov["NuHepMC.Provenance.aiva.Flux"]
    # a fixed-energy model run: FATX = sigma(E) of the model card, E.C.3 for its single process
    generate_to_file(model="numu-C12-inclusive", output=tmp_path / "f.hepmc3", n_events=200, seed=1, energy=1.0)
    p = tmp_path / "f.hepmc3"
    assert check_nuhepmc(p) == []
    from aiva.models.io import load_model
    from aiva.models.xsec import XsecCurve

    curve = XsecCurve.from_card(load_model("numu-C12-inclusive")[1])
    assert float(_run_attr(p, "NuHepMC.FluxAveragedTotalCrossSection")) == pytest.approx(curve(1.0) * 12 / 100)
    assert "E.C.3" in _run_attr(p, "NuHepMC.Conventions")


def _azimuths(path):
    with hp.open(str(path)) as f:
        return np.array([[q.momentum.px, q.momentum.py] for ev in f for q in ev.particles
                         if q.status == 1 and abs(q.pid) == 13])


def test_lepton_azimuth_uniform_and_seeded(tmp_path):
    from conftest import make_table

    t = make_table(20_000, seed=3, enu=2.0)
    write_nuhepmc(t, tmp_path / "a.hepmc3", flux_averaged_xsec=1.0)
    pxy = _azimuths(tmp_path / "a.hepmc3")
    phi = np.arctan2(pxy[:, 1], pxy[:, 0]) % (2 * np.pi)
    assert len(phi) == 20_000 and np.mean(np.abs(pxy[:, 1]) > 1e-6) > 0.99
    assert stats.kstest(phi / (2 * np.pi), "uniform").pvalue > 1e-3
    counts, _ = np.histogram(phi, 20, (0, 2 * np.pi))
    assert stats.chisquare(counts).pvalue > 1e-3
    # same table and seed: same bytes; another seed: other azimuths
    small = make_table(300, seed=3)
    for name, seed in (("b1", None), ("b2", None), ("c", 99)):
        write_nuhepmc(small, tmp_path / f"{name}.hepmc3", flux_averaged_xsec=1.0, seed=seed)
    b1, b2, c = ((tmp_path / f"{n}.hepmc3").read_bytes() for n in ("b1", "b2", "c"))
    assert b1 == b2 and b1 != c


def test_gzip_round_trip(flux_mc, tmp_path):
    path = write_events(flux_mc, tmp_path / "ev.hepmc3.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b" and not list(tmp_path.glob(".*tmp*"))
    assert check_nuhepmc(path) == []
    back = read_events(path)
    assert np.allclose(back["ELep"], flux_mc["ELep"], rtol=1e-12) and np.array_equal(back["Mode"], flux_mc["Mode"])


# ------------------------------------------------------------------------------ other generators

def _cc_by_process_id(path):
    """CC events by the E.C.1 block of their process id, counted straight from the text."""
    ids = [int(line.split()[3]) for line in _lines(path) if line.startswith("A 0 signal_process_id")]
    return sum(i % 100 < 50 for i in ids), len(ids)


@pytest.mark.parametrize("path", [NUWRO_V1, NUWRO_V09], ids=["v1.0.0-names", "v0.9-names"])
def test_read_nuwro(path):
    t = read_events(path)
    n_cc, n = _cc_by_process_id(path)
    assert (n_cc, n) == (3, 4)
    assert len(t) == n_cc and set(t["PDGLep"]) == {13} and set(t["Mode"]) == {26}  # one muon per CC DIS event
    nh = t.metadata["nuhepmc"]
    assert nh["dropped"]["nc"] == n - n_cc and nh["tools"][0] == "NuWro"
    # the lepton is the hard-scatter muon of the primary vertex (MeV in the file, GeV here)
    assert t["ELep"][0] == pytest.approx(13.999174596422708) and t["Enu_true"][0] == pytest.approx(21.645138932994338)
    # FATX 0.0463 pb per nucleon = 4.63e-38 cm2 per nucleon, over 4 unit-weight events
    assert np.allclose(t["weight"], 0.0463227184476711 * 100 / 4)
    assert np.allclose(nuhepmc_xsec_weights(t, np.ones(3)), t["weight"])


def test_validator_on_nuwro_files():
    # the spec's own example: the update script renamed the attributes but kept the 0.9.6 version
    # numbers, and nuwro2hepmc3 uses the P.C.2 remnant code without signalling P.C.2
    assert check_nuhepmc(NUWRO_V1) == [
        "G.R.2: the file declares NuHepMC 0.9.6; checked against 1.0.0",
        "G.R.11: event 0 (and 3 more): particle number 2009900000 used without P.C.2 or "
        "NuHepMC.AdditionalParticleNumbers"]
    old = check_nuhepmc(NUWRO_V09)
    for item in ("G.R.6: NuHepMC.Units.CrossSection.TargetScale = 'PerTargetNucleon'",
                 "G.C.4: pre-1.0 'NuHepMC.Beam.RateUnit'", "E.R.5: event 0 (and 3 more): pre-1.0 attribute 'LabPos'"):
        assert any(p.startswith(item) for p in old), (item, old)


GIBUU_LAYOUT = """HepMC::Version 3.02.05
HepMC::Asciiv3-START_EVENT_LISTING
W CV
T GiBUU\\|2023.2\\|
A NuHepMC.Conventions E.C.1 E.C.4 E.C.5 P.C.1 P.C.2 V.C.1
A NuHepMC.ParticleStatusIDs 22
A NuHepMC.ParticleStatusInfo[22].Description Nuclear remnant for bookkeeping
A NuHepMC.ParticleStatusInfo[22].Name NuclRemnant
A NuHepMC.ProcessIDs 200 250
A NuHepMC.ProcessInfo[200].Description Charged-current quasielastic
A NuHepMC.ProcessInfo[200].Name CCQE
A NuHepMC.ProcessInfo[250].Description Neutral-current quasielastic
A NuHepMC.ProcessInfo[250].Name NCQE
A NuHepMC.Units.CrossSection.TargetScale PerTargetNucleon
A NuHepMC.Units.CrossSection.Unit 1e-38 cm2
A NuHepMC.Version.Major 0
A NuHepMC.Version.Minor 9
A NuHepMC.Version.Patch 0
A NuHepMC.VertexStatusIDs
{events}HepMC::Asciiv3-END_EVENT_LISTING
"""
GIBUU_EVENT = """E {n} 2 5
U GEV CM
W {w}
A 0 GenCrossSection {xs} 0.01 -1 -1
A 0 LabPos 0.000000 0.000000 0.000000 0.000000
A 0 ProcID {proc}
P 1 0 14 0 0 1.0 1.0 0 4
P 2 0 1000060120 0 0 0 0 0 20
V -2 21 [2]
P 3 -2 2112 0 0 0.1 0.944 0.939 21
P 4 -2 2009900000 0 0 0 0 0 22
V -1 1 [1,3]
P 5 -1 {lep} 0.3 0.1 0.5 {el} {m} 1
"""


def test_read_gibuu_layout(tmp_path):
    # hand-made, in the layout of GiBUU's writer (see tests/data/nuhepmc/README.md)
    evs = "".join(GIBUU_EVENT.format(n=i, w=w, xs=xs, proc=p, lep=lep, el=el, m=m) for i, (w, xs, p, lep, el, m) in
                  enumerate([(2.0, 4.0, 200, 13, 0.6, 0.10566), (1.0, 4.5, 250, 14, 0.59161, 0.0),
                             (3.0, 5.0, 200, 13, 0.6, 0.10566)]))
    path = tmp_path / "EventOutput.Pert.hepmc3"
    path.write_text(GIBUU_LAYOUT.format(events=evs))
    # GiBUU 2023 writes an empty "A NuHepMC.VertexStatusIDs", which HepMC3 cannot parse
    with pytest.raises(EventFileError, match="attribute 'NuHepMC.VertexStatusIDs' has no value"):
        read_events(path)
    assert check_nuhepmc(path)[0].startswith("E.R.1: run-info attribute 'NuHepMC.VertexStatusIDs' has no value")
    path.write_text(GIBUU_LAYOUT.format(events=evs).replace("A NuHepMC.VertexStatusIDs\n", ""))
    t = read_events(path)
    assert len(t) == 2 and t.metadata["nuhepmc"]["dropped"]["nc"] == 1 and list(t["Mode"]) == [1, 1]
    assert t.metadata["nuhepmc"]["fatx_source"] == "E.C.4" and t.metadata["nuhepmc"]["counts"]["legacy_ProcID"] == 3
    # the last event's running estimate (5.0, 1e-38 cm2 per nucleon) shared by CV weight over all 3 events
    assert np.allclose(t["weight"], [5.0 * 2 / 6, 5.0 * 3 / 6])
    problems = check_nuhepmc(path)
    assert problems == [  # what 0.9 names give against 1.0; E.C.4 (G.R.5) and V.C.1/P.C.1/P.C.2 are honoured
        "G.R.2: the file declares NuHepMC 0.9.0; checked against 1.0.0",
        "G.R.6: NuHepMC.Units.CrossSection.Unit = '1e-38 cm2' is not a reserved value ['pb', '10-38 cm2', 'cm2']",
        "G.R.6: NuHepMC.Units.CrossSection.TargetScale = 'PerTargetNucleon' is not a reserved value "
        "['PerAtom', 'PerNucleon']",
        "G.R.9: 'NuHepMC.VertexStatusIDs' missing or not integers",
        "E.R.3: event 0 (and 2 more): pre-1.0 attribute 'ProcID' (1.0: 'signal_process_id')",
        "E.R.5: event 0 (and 2 more): pre-1.0 attribute 'LabPos' (1.0: 'lab_pos')",
        "E.R.3: event 0 (and 2 more): no 'signal_process_id' attribute",
        "E.R.5: event 0 (and 2 more): no 'lab_pos' attribute"]


# ------------------------------------------------------------------------------ error paths

def test_broken_files_are_one_line_errors(flux_mc, tmp_path, capsys):
    from aiva.cli import main

    first = flux_mc.select(np.arange(len(flux_mc)) < 50)
    good = write_events(first, tmp_path / "good.hepmc3", **writer_options(first, "good.hepmc3"))
    renamed = tmp_path / "renamed.hepmc3"
    renamed.write_text(good.read_text().replace("signal_process_id", "signal_proc_id"))
    with pytest.raises(EventFileError, match=r"renamed.hepmc3: event 1: no attribute 'signal_process_id'"):
        read_events(renamed)
    assert any(p.startswith("E.R.3: event 1 (and 49 more): no 'signal_process_id'") for p in check_nuhepmc(renamed))
    nocv = tmp_path / "nocv.hepmc3"
    nocv.write_text(good.read_text().replace("W CV\n", "W central\n"))
    with pytest.raises(EventFileError, match="nocv.hepmc3: run info: no weight named 'CV'"):
        read_events(nocv)
    truncated = tmp_path / "bad.hepmc3"
    truncated.write_text(good.read_text()[: len(good.read_text()) * 2 // 3])
    with pytest.raises(EventFileError, match=r"bad.hepmc3: file ends inside event \d+ .*truncated"):
        read_events(truncated)
    flux_mc.select(np.arange(len(flux_mc)) < 50)
    write_events(flux_mc, tmp_path / "x.parquet")
    capsys.readouterr()
    for bad in (truncated, renamed):
        assert main(["compare", str(bad), str(tmp_path / "x.parquet")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and bad.name in err
