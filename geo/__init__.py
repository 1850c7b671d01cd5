"""riskmap's spatial core: boundaries, ingest, coordinate systems, join, scoring, store.

Pure library: never imports a web framework or a map library.
"""
