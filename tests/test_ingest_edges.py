"""Files as users really send them: every row accepted or reported, never a crash."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.errors import InputRejected
from geo.ingest import ingest_file
from tests.conftest import inside_point

XIHU = "330106"


@pytest.fixture()
def here(counties):
    return inside_point(counties, XIHU)


def _ingest(store, path, kind="enterprises", **kw):
    from geo.ingest import IngestOptions

    return ingest_file(store, path, kind, IngestOptions(**kw))


def test_repeated_and_blank_header_names(store, tmp_path, here):
    lon, lat = here
    p = tmp_path / "dup.csv"
    p.write_text(f"id,domain,经度,纬度,经度,,\nD1,fire,{lon},{lat},1,,\n", encoding="utf-8")
    result = _ingest(store, p)
    assert result.accepted == 1 and store.read("enterprises")["lon"].iloc[0] == pytest.approx(lon)


def test_reingesting_an_export_works(store, tmp_path, here):
    from geo.export import export_records

    lon, lat = here
    p = tmp_path / "e.csv"
    p.write_text(f"id,domain,lon,lat\nX1,fire,{lon},{lat}\n", encoding="utf-8")
    _ingest(store, p)
    out = tmp_path / "export.csv"
    export_records(store, "enterprises", "csv", out)
    again = _ingest(store, out)
    assert (again.accepted, again.updated) == (1, 1)
    assert store.read("enterprises")["county_adcode"].tolist() == [XIHU]


def test_utf8_shapefile_without_cpg(store, tmp_path, here):
    lon, lat = here
    attrs = {"id": ["S1"], "domain": ["消防"], "name": ["杭州某商场"]}
    gdf = gpd.GeoDataFrame(attrs, geometry=[shapely.Point(lon, lat)], crs=4326)
    shp = tmp_path / "u" / "u.shp"
    shp.parent.mkdir()
    gdf.to_file(shp, encoding="UTF-8")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    result = _ingest(store, shp)
    assert result.accepted == 1 and store.read("enterprises")["name"].iloc[0] == "杭州某商场"


def test_stray_and_unbalanced_quotes(store, tmp_path, here):
    lon, lat = here
    stray = tmp_path / "stray.csv"
    stray.write_text(
        f'id,name,domain,lon,lat\nQ1,甲 12"管道,fire,{lon},{lat}\nQ2,乙,fire,{lon},{lat}\n', encoding="utf-8"
    )
    assert _ingest(store, stray).accepted == 2
    unbalanced = tmp_path / "unbal.csv"
    unbalanced.write_text(
        f'id,name,domain,lon,lat\nK1,"甲公司,fire,{lon},{lat}\nK2,乙,fire,{lon},{lat}\nK3,丙,fire,{lon},{lat}\n',
        encoding="utf-8",
    )
    result = _ingest(store, unbalanced)
    assert result.accepted + result.rejected >= 1
    reported = set(result.report["line"])
    stored = set(store.read("enterprises")["source_line"]) if result.accepted else set()
    assert {2, 3, 4} <= reported | stored  # every line is accounted for
    assert any("unbalanced quote" in r for r in result.report["reason"])


def test_excel_blank_comma_rows_are_blank_lines(store, tmp_path, here):
    lon, lat = here
    p = tmp_path / "b.csv"
    p.write_text(f"id,domain,lon,lat\nB1,fire,{lon},{lat}\n,,,\nB2,fire,{lon},{lat}\n,,,\n", encoding="utf-8")
    result = _ingest(store, p)
    assert (result.rows, result.accepted, result.rejected) == (2, 2, 0)
    assert sorted(store.read("enterprises")["source_line"]) == [2, 4]


def test_same_day_dangers_at_one_unit_are_distinct_events(store, tmp_path, here):
    lon, lat = here
    e = tmp_path / "e.csv"
    e.write_text(f"id,domain,lon,lat\nE1,fire,{lon},{lat}\n", encoding="utf-8")
    _ingest(store, e)
    ev = tmp_path / "ev.csv"
    ev.write_text("企业编号,类型,隐患等级,发现日期\n" + "E1,隐患,一般,2026-03-01\n" * 3, encoding="utf-8")
    assert _ingest(store, ev, kind="events").accepted == 3
    again = _ingest(store, ev, kind="events")
    assert again.updated == 3 and len(store.read("events")) == 3


def test_not_a_zip_and_multilayer_geopackage(store, tmp_path, here):
    bad = tmp_path / "x.zip"
    bad.write_text("not a zip")
    with pytest.raises(InputRejected, match="not a zip archive"):
        _ingest(store, bad)
    lon, lat = here
    gpkg = tmp_path / "two.gpkg"
    one = gpd.GeoDataFrame({"id": ["G1"], "domain": ["fire"]}, geometry=[shapely.Point(lon, lat)], crs=4326)
    one.to_file(gpkg, layer="enterprises")
    one.assign(id=["G2"]).to_file(gpkg, layer="old")
    with pytest.raises(InputRejected, match="2 layers .*--layer"):
        _ingest(store, gpkg)
    assert _ingest(store, gpkg, sheet="old").accepted == 1
    assert store.read("enterprises")["id"].tolist() == ["G2"]


def test_fullwidth_thousands_and_excel_serial_with_time(store, tmp_path, here):
    lon, lat = here
    p = tmp_path / "w.csv"
    p.write_text(f"id,domain,lon,lat,从业人员数\nW1,fire,{lon},{lat},１，２００\n", encoding="utf-8")
    assert _ingest(store, p).accepted == 1 and store.read("enterprises")["workers"].iloc[0] == 1200
    ev = tmp_path / "ev.csv"
    ev.write_text("企业编号,类型,发现日期\nW1,报警,46100.5\n", encoding="utf-8")
    assert _ingest(store, ev, kind="events").accepted == 1
    assert str(store.read("events")["found_date"].iloc[0].date()) == str(
        (pd.Timestamp("1899-12-30") + pd.Timedelta(days=46100)).date()
    )


@pytest.mark.parametrize("n_values", [50, 5000])
def test_isin_text_either_way_round_equals_pandas(n_values):
    import numpy as np

    from geo.ingest import _isin_text

    rng = np.random.default_rng(1)
    probes = pd.Series(rng.choice([f"E{i}" for i in range(300)] + [None], size=1000), dtype="str")
    values = pd.Series([f"E{i}" for i in rng.integers(0, 600, size=n_values)], dtype="str")
    expected = probes.isin(set(values)).to_numpy() & probes.notna().to_numpy()
    assert (_isin_text(probes, values) == expected).all()
    assert (_isin_text(probes.astype(object), values.astype(object)) == expected).all()


def test_csv_record_lines_fast_count_agrees_with_the_scan():
    """One line per record (the common file) takes a newline count; blank lines and quoted multi-line fields
    take the scan; both give each record's line number (header = line 1)."""
    from geo.csvfiles import csv_record_lines

    plain = b'id,name\n1,"a"\n2,b\r\n3,c'
    assert csv_record_lines(plain, 3).tolist() == [2, 3, 4]
    assert csv_record_lines(plain + b"\n", 3).tolist() == [2, 3, 4]
    assert csv_record_lines(b"id,name\n1,a\n\n2,b\n", 2).tolist() == [2, 4]  # a blank line
    assert csv_record_lines(b'id,name\n1,"a\nb"\n2,c\n', 2).tolist() == [2, 4]  # a record on two lines
    assert csv_record_lines(b"id,name\n1,a\n2,b\n", 3) is None  # a count the bytes cannot give


@pytest.mark.parametrize(
    "body",
    [
        b'id,name,lon\r\nA1, x ,120.1\r\nA2,"a\r\nb",120.2\r\n',  # CR LF, a value over two lines, spaces
        b"\xef\xbb\xbfid,name\nA1,\xe5\x8c\x96\xe5\xb7\xa5\n\n,\nA2,y",  # BOM, a blank line, a ",," row, no last LF
        "安全生产风险普查表\nid,name,domain\nA1,某厂,fire\n".encode(),  # a title line above the header
        b"id\tname\nA1\tx\n",  # tab-separated
        b'id,name\nA1,"say ""hi"""\n',  # doubled quotes
    ],
)
def test_the_plain_utf8_reader_reads_as_the_decoding_reader(tmp_path, body):
    """The fast path for UTF-8 files (no decoding of the whole file) gives the same table, line numbers,
    encoding and notes as the reader that decodes the file first."""
    from geo.csvfiles import _read_csv_decoded, _read_plain_utf8
    from geo.fields import header_score, load_contract

    p = tmp_path / "f.csv"
    p.write_bytes(body)
    score = header_score(load_contract("enterprises"))
    fast, slow = _read_plain_utf8(p, body, score), _read_csv_decoded(p, body, score)
    assert fast is not None
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert fast.positions.tolist() == slow.positions.tolist()
    assert (fast.encoding, fast.notes, fast.malformed) == (slow.encoding, slow.notes, slow.malformed)


@pytest.mark.parametrize(
    "body",
    [
        "id,name\nA1,化工\n".encode("gb18030"),  # not UTF-8
        "id,name\nA1,化工\n".encode() + "A2,化工\n".encode("gb18030"),  # one GB18030 line in a UTF-8 file
        b"id,name\nA1,x,extra\nA2,y\n",  # a ragged row
        b"id,id\nA1,A2\n",  # a repeated header name
        b"id,name\rA1,x\r",  # old-Mac line ends
    ],
)
def test_the_plain_utf8_reader_leaves_other_files_to_the_decoding_reader(tmp_path, body):
    from geo.csvfiles import _read_plain_utf8

    p = tmp_path / "f.csv"
    p.write_bytes(body)
    assert _read_plain_utf8(p, body, None) is None


def test_parquet_dictionaries_for_repeating_columns_only(tmp_path):
    """A long table gets dictionaries for the columns that repeat their values, none for ids; a column with
    nothing in the sampled rows, a categorical or a list column is no error (it is written as pyarrow would)."""
    import numpy as np
    import pyarrow.parquet as pq

    from geo.store import dictionary_columns, write_parquet

    n = 120_000
    frame = pd.DataFrame(
        {
            "id": [f"E{i:06d}" for i in range(n)],
            "domain": pd.Series(np.array(["fire", "mining"], dtype=object)[np.arange(n) % 2], dtype="str"),
            "override": pd.Series([None] * n, dtype=object),
            "kind": pd.Categorical(["a", "b"] * (n // 2)),
            "tags": [[1]] * n,
        }
    )
    chosen = dictionary_columns(frame)
    assert chosen == ["domain"]
    write_parquet(frame, tmp_path / "t.parquet")
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.num_rows == n and back.column("id")[5].as_py() == "E000005"
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" in encodings["domain"] and "RLE_DICTIONARY" not in encodings["id"]
