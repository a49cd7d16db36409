"""The installed version of aiva (a leaf module: every layer may import it)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aiva")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
