"""Distribution-comparison metrics of the GAN papers: pulls, MAP, MAP-3D, EMD, C2ST."""
from aiva.metrics.core import (
    c2st_auc,
    compare_samples,
    compare_tables,
    emd,
    histogram2d,
    mean_absolute_pull,
    pulls,
    map_2d,
    map_3d,
)

__all__ = [
    "histogram2d",
    "pulls",
    "mean_absolute_pull",
    "map_2d",
    "map_3d",
    "emd",
    "c2st_auc",
    "compare_samples",
    "compare_tables",
]
