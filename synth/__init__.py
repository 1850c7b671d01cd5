"""Synthetic safety-risk census for demos, tests and benchmarks: enterprises, hazard sites and events.

`generate_demo(out_dir, counties)` writes a realistic, deterministic (per seed) census over any counties
GeoDataFrame (EPSG:4326), split across files that exercise the real input paths: a UTF-8 CSV with English
headers, a GB18030 CSV with Chinese headers and GCJ-02 coordinates, a GeoJSON of hazard sites and a CSV of
events with Chinese headers. A handful of deliberately bad rows are appended (see `BAD_ENTERPRISE_ROWS` and
the README.txt written next to the data).

Everything is vectorised over enterprises (numpy, shapely 2 array functions); only counties, cities and
hazard types are looped over. A million enterprises take seconds.

Modules, by reason: places (counties, parks, points inside counties), names (invented Chinese names and
addresses), enterprises (the census and its risk indicators), enterprise_files (the two enterprise files and
their bad rows), hazards (hazard sites), events (hidden dangers, accidents, alarms), values (shared column
helpers) and generate (the entry point and README.txt). synth may import geo; geo never imports synth.
"""

from synth.enterprise_files import BAD_ENTERPRISE_ROWS, ENTERPRISE_COLUMNS, GBK_COLUMNS
from synth.events import EVENT_COLUMNS
from synth.generate import generate_demo

__all__ = ["BAD_ENTERPRISE_ROWS", "ENTERPRISE_COLUMNS", "EVENT_COLUMNS", "GBK_COLUMNS", "generate_demo"]
