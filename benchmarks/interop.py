"""The NUISANCE-normalisation figures of issue #21: a flat tree with NUISANCE branch types, 5 % NC
events and fScaleFactor computed as NUISANCE does, against the known flux-averaged cross section and
the Parquet route of aiva predict (plus an independent seed for the statistical scale).

    OMP_NUM_THREADS=1 python benchmarks/interop.py
"""
import json, numpy as np, tempfile, pathlib, sys
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from test_interop import _with_nc, _nuisance_xsec_scale, _write_nuisance_tree
from aiva.mc import simulate
from aiva.events import read_events, write_events
from aiva.events.select import Selection
from aiva.cli import main
d = pathlib.Path(tempfile.mkdtemp())
t = simulate("C12", "numu", 200_000, flux="t2k-nd280-numu", seed=11)
known = t.metadata["xsec_1e-38cm2"]["total_per_nucleon"]
mixed, cc = _with_nc(t, 0.05)
scale = _nuisance_xsec_scale(t, len(mixed), extra_sigma=(len(mixed) - len(t)) / len(t))
root = _write_nuisance_tree(d / "nuisflat.root", mixed, scale=scale, cc=cc)
back = read_events(root, select=Selection(cc_only=True))
print("known <sigma> %.5f, NUISANCE sum Weight*fScaleFactor over CC %.5f, ratio %.5f" % (known, back["weight"].sum(), back["weight"].sum() / known))
pq = write_events(t, d / "events.parquet")
main(["predict", "--measurement", "t2k-ccinc-2018-C", "--events", str(pq), "--out", str(d / "p1")])
main(["predict", "--measurement", "t2k-ccinc-2018-C", "--events", str(root), "--cc-only", "--out", str(d / "p2")])
t2 = simulate("C12", "numu", 200_000, flux="t2k-nd280-numu", seed=12)
pq2 = write_events(t2, d / "events2.parquet")
main(["predict", "--measurement", "t2k-ccinc-2018-C", "--events", str(pq2), "--out", str(d / "p3")])
for k in ("p1", "p2", "p3"):
    r = json.loads((d / k / "result.json").read_text())["predictions"][0]
    print(k, "chi2 %.2f/%d" % (r["chi2"], r["ndf"]))
