"""Fine-tuning learned generators to published flux-averaged measurements (``aiva tune``).

A layer of its own between :mod:`aiva.registry` and the sibling layers :mod:`aiva.training` /
:mod:`aiva.measurements`, since it needs both models and measurements (``docs/tuning.md``)."""
from aiva.tuning.cv import bin_blocks, conditional_chi2, conditional_gaussian
from aiva.tuning.objective import check_for_tuning, covariance_sha256
from aiva.tuning.tune import TuneConfig, Tuner, cross_validate, posterior_ensemble, select_penalty, tune_to_dir

__all__ = ["TuneConfig", "Tuner", "bin_blocks", "check_for_tuning", "conditional_chi2",
           "conditional_gaussian", "covariance_sha256", "cross_validate", "posterior_ensemble", "select_penalty",
           "tune_to_dir"]
