"""Rescue-circle benchmark: a synthetic street grid, responders and enterprises; times the network build,
snapping, the multi-source shortest paths (scipy.sparse.csgraph) and, when installed (`pip install -e .[bench]`),
networkx's `multi_source_dijkstra_path_length` and igraph's `distances` on the same graph (ratios).

    python bench/response.py [--enterprises 1000000] [--edges 500000] [--responders 2000] [--seed 0]

Run by hand; prints one JSON line. `coverage_total_s` = building the snapping index + snapping responders and
enterprises + the multi-source shortest paths: what a build spends on the enterprises' minutes. The grid
spans about 1.6° × 1.6° around Hangzhou with blocks of about 330 m.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import shapely

from geo.response.network import Network


def grid(edges: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = int(np.sqrt(edges / 2)) + 1  # an n × n grid has about 2 n² segments
    xs, ys = np.linspace(119.4, 121.0, n), np.linspace(29.5, 31.1, n)
    rows = [shapely.linestrings(np.column_stack([xs, np.full(n, y)])) for y in ys]
    cols = [shapely.linestrings(np.column_stack([np.full(n, x), ys])) for x in xs]
    lines = np.array(rows + cols, dtype=object)
    speed = rng.choice([30.0, 40.0, 60.0, 80.0], size=len(lines))
    oneway = (rng.random(len(lines)) < 0.05).astype(np.int8)
    return lines, speed, oneway


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--enterprises", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=500_000)
    ap.add_argument("--responders", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    out: dict = {"enterprises": args.enterprises, "responders": args.responders}
    t = time.perf_counter()
    lines, speed, oneway = grid(args.edges, rng)
    net = Network.from_roads(lines, speed, oneway, 10.0, 5000.0)
    _ = net.graph
    out["segments"], out["nodes"] = int(len(net.minutes)), int(net.n_nodes)
    out["network_s"] = round(time.perf_counter() - t, 3)
    lon, lat = rng.uniform(119.4, 121.0, args.enterprises), rng.uniform(29.5, 31.1, args.enterprises)
    rlon, rlat = rng.uniform(119.4, 121.0, args.responders), rng.uniform(29.5, 31.1, args.responders)
    t = time.perf_counter()
    net.snap(rlon[:1], rlat[:1])  # builds the snapping index (the k-d tree of segment pieces), once per network
    out["snap_index_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    src, tgt = net.snap(rlon, rlat), net.snap(lon, lat)
    out["snap_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    minutes, _ = net.forward(src, tgt)
    out["scipy_forward_s"] = round(time.perf_counter() - t, 3)
    out["coverage_total_s"] = round(out["snap_index_s"] + out["snap_s"] + out["scipy_forward_s"], 3)
    out["reached_15_min"] = round(float((minutes <= 15).mean()), 4)
    sources = np.unique(net.b[src.segment[src.segment >= 0]])
    from scipy.sparse.csgraph import dijkstra

    t = time.perf_counter()
    dijkstra(net.graph, directed=True, indices=sources, min_only=True)
    out["scipy_dijkstra_only_s"] = round(time.perf_counter() - t, 3)
    coo = net.graph.tocoo()
    try:
        import networkx as nx

        g = nx.DiGraph()
        g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
        t = time.perf_counter()
        nx.multi_source_dijkstra_path_length(g, set(sources.tolist()))
        out["networkx_s"] = round(time.perf_counter() - t, 3)
    except ImportError:
        out["networkx_s"] = None
    try:
        import igraph as ig

        h = ig.Graph(n=net.n_nodes, edges=list(zip(coo.row.tolist(), coo.col.tolist(), strict=True)), directed=True)
        h.es["w"] = coo.data.tolist()
        h.add_vertex()
        s = net.n_nodes
        h.add_edges([(s, int(v)) for v in sources])
        h.es[-len(sources) :]["w"] = [0.0] * len(sources)
        t = time.perf_counter()
        h.distances(source=[s], weights="w", mode="out")
        out["igraph_s"] = round(time.perf_counter() - t, 3)
    except ImportError:
        out["igraph_s"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
