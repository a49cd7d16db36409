"""The NUISANCE-normalisation figures of issue #21: a flat tree with NUISANCE's branch types, 5 % NC
events and fScaleFactor computed as NUISANCE does, against the known flux-averaged cross section and
the Parquet route of ``aiva predict`` (plus an independent seed for the statistical scale).
Writes ``benchmarks/results/interop.json``.

    OMP_NUM_THREADS=1 python benchmarks/interop.py
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the NUISANCE-tree builder of the tests


def main() -> None:
    from test_interop import _nuisance_xsec_scale, _with_nc, _write_nuisance_tree

    from aiva.cli import main as aiva
    from aiva.events import read_events, write_events
    from aiva.events.select import Selection
    from aiva.mc import simulate

    d = pathlib.Path(tempfile.mkdtemp())
    t = simulate("C12", "numu", 200_000, flux="t2k-nd280-numu", seed=11)
    known = t.metadata["xsec_1e-38cm2"]["total_per_nucleon"]
    mixed, cc = _with_nc(t, 0.05)
    scale = _nuisance_xsec_scale(t, len(mixed), extra_sigma=(len(mixed) - len(t)) / len(t))
    root = _write_nuisance_tree(d / "nuisflat.root", mixed, scale=scale, cc=cc)
    sigma = float(read_events(root, select=Selection(cc_only=True))["weight"].sum())
    runs = {"parquet": [str(write_events(t, d / "events.parquet"))],
            "nuisance_cc_only": [str(root), "--cc-only"],
            "parquet_other_seed": [str(write_events(simulate("C12", "numu", 200_000, flux="t2k-nd280-numu", seed=12),
                                                    d / "events2.parquet"))]}
    chi2 = {}
    for name, args in runs.items():
        aiva(["predict", "--measurement", "t2k-ccinc-2018-C", "--events", *args, "--out", str(d / name)])
        r = json.loads((d / name / "result.json").read_text())["predictions"][0]
        chi2[name] = {"chi2": r["chi2"], "ndf": r["ndf"]}
    res = {"known_xsec_per_nucleon": known, "nuisance_xsec_per_nucleon": sigma, "ratio": sigma / known, "chi2": chi2}
    print(f"known <sigma> {known:.5f}, sum Weight*fScaleFactor over CC {sigma:.5f} (ratio {sigma / known:.5f})")
    for name, c in chi2.items():
        print(f"{name}: chi2/ndf {c['chi2']:.2f}/{c['ndf']}")
    out = ROOT / "benchmarks" / "results" / "interop.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
