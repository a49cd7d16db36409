"""The Python route end to end (the README's "Python API" example; tests/test_api.py checks that
this script holds the README's example and executes that example).

    python docs/python_api.py      # writes tl_ar40/ and argon_2GeV.root in the current folder
"""
import aiva

ref = aiva.simulate("C12", "numu", 100_000, energy=1.0, seed=1)             # reference Monte Carlo
gen = aiva.generate("numu-C12-inclusive-flow", 100_000, energy=1.0, seed=2)  # the default learned generator
cmp = aiva.compare(ref, gen, c2st=False)
print(f"MAP {cmp.MAP:.2f} (two samples of one distribution give 0.80), MAP-3D {cmp.MAP3D:.2f}")

t2k = aiva.generate("numu-C12-inclusive-flow", 200_000, flux="t2k-nd280-numu", flux_range=(0.3, 10), seed=3)
pred = aiva.predict("t2k-ccinc-2018-C", t2k)           # flux-averaged d2sigma/dp dcos in T2K's bins
print(f"T2K CC-inclusive on carbon: chi2/ndf = {pred.chi2:.0f}/{pred.ndf}")

argon = aiva.simulate("Ar40", "numu", 10_000, energy_range=(0.3, 10.0), seed=4)
tl = aiva.transfer("numu-C12-inclusive-flow", argon, "tl_ar40", epochs=2, seed=5,
                   config={"training": {"val_events": 5000}})                # fine-tune on 10k argon events
print(tl.card.name, tl.card.target, tl.path)
aiva.write_events(aiva.generate((tl.model, tl.card), 10_000, energy=2.0, seed=6), "argon_2GeV.root")
