"""riskmap's spatial core: boundaries, ingest, coordinate systems, join, scoring, store.

Pure library: never imports a web framework or a map library.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("riskmap")  # declared once, in pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
