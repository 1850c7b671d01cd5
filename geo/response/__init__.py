"""Emergency response: resources, road networks, travel times and the 15-minute rescue circle.

`config` (the validated geo/data/response.toml), `network` (a road graph, points snapped onto it, multi-source
shortest paths with scipy.sparse.csgraph), `estimate` (straight line × detour without roads), `coverage`
(minutes for every unit, site and region at build), `nearest` (resources near a point, for /near and
/incident), `incident` (the duty officer's briefing).
"""
