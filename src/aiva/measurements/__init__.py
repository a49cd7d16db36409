"""Published flux-averaged cross sections and predictions in their binning (``aiva predict``)."""
from aiva.measurements.core import (
    MEASUREMENTS_DIR,
    Measurement,
    chi2,
    event_bins,
    list_measurements,
    load_measurement,
    predict_bins,
)

__all__ = ["MEASUREMENTS_DIR", "Measurement", "chi2", "event_bins", "list_measurements", "load_measurement", "predict_bins"]
