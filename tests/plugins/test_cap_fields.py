"""What a CAP alert says happened and what to do, per bulletin; commune outlines as <polygon>.

Issue 17: "<event> and <category> that say what happened (let the editor pick, and map CAP-in's
values through)", "<instruction> (from the bulletin, or a field for it)", and "area shapes when the
province has loaded commune boundaries (hub communes import-geojson FILE)".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
import pytest
from sqlalchemy import select

from hub import bulletins as domain
from hub.cli import main
from hub.models import AuditEvent, Commune
from hub_ingest.schema import check_cap12
from tests.plugins.test_web_feeds import make_web, mp3, png, web  # noqa: F401  (fixtures)

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"

#: Two communes of Lạng Sơn drawn as rough quadrilaterals ([lon, lat], RFC 7946), and a third
#: commune the hub does not know.
HUU_LUNG = [[106.30, 21.50], [106.45, 21.50], [106.45, 21.62], [106.30, 21.62], [106.30, 21.50]]
LOC_BINH = [[106.85, 21.70], [107.00, 21.70], [107.00, 21.80], [106.85, 21.70]]
ISLAND = [[106.90, 21.60], [106.92, 21.60], [106.92, 21.61], [106.90, 21.60]]


def collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def feature(properties: dict, shape_type: str, coordinates: list) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": {"type": shape_type, "coordinates": coordinates}}


def info_of(web, bid: str):
    response = web.client.get(f"/cap/{bid}.xml")
    assert response.status_code == 200, response.text
    check_cap12(response.content)  # the OASIS schema, not only our own reading
    return SafeET.fromstring(response.content).find(f"{NS}info")


def test_the_editors_event_category_and_instruction_go_out_in_the_alert(web):
    bid = web.publish(title="Cảnh báo lũ quét", body="Mưa lớn gây lũ quét ở các khe suối.", priority="emergency",
                      targets=["X1"], cap_event="Lũ quét", cap_category="Met",
                      instruction="Không đi qua ngầm tràn; sơ tán khỏi ven suối.")
    info = info_of(web, bid)
    assert info.findtext(f"{NS}event") == "Lũ quét"
    assert info.findtext(f"{NS}category") == "Met"
    assert info.findtext(f"{NS}instruction") == "Không đi qua ngầm tràn; sơ tán khỏi ven suối."
    assert info.findtext(f"{NS}description") == "Mưa lớn gây lũ quét ở các khe suối."


def test_without_them_the_departments_defaults_apply(make_web):
    web = make_web(cap_event="Cảnh báo của tỉnh", cap_category="Safety", cap_instruction="Nghe loa xã.")
    bid = web.publish(title="Mất điện diện rộng", body="Điện lực báo mất điện.", priority="emergency", targets=["X1"])
    info = info_of(web, bid)
    assert (info.findtext(f"{NS}event"), info.findtext(f"{NS}category")) == ("Cảnh báo của tỉnh", "Safety")
    assert info.findtext(f"{NS}instruction") == "Nghe loa xã."


def test_an_instruction_the_body_ends_with_is_said_once(web):
    # CAP-in puts the instruction in the spoken body too; the alert out must not say it twice.
    bid = web.publish(title="Bão số 3", body="Bão số 3 đổ bộ đêm nay.\n\nChằng chống nhà cửa.",
                      priority="emergency", targets=["X1"], instruction="Chằng chống nhà cửa.")
    info = info_of(web, bid)
    assert info.findtext(f"{NS}description") == "Bão số 3 đổ bộ đêm nay."
    assert info.findtext(f"{NS}instruction") == "Chằng chống nhà cửa."


def test_a_revision_without_the_new_fields_keeps_the_hash_it_always_had():
    content = domain.Content(title="T", body="B", priority="normal", channels=["web"], targets=["X1"])
    canonical = {"title": "T", "body": "B", "priority": "normal", "channels": ["web"], "targets": ["X1"],
                 "valid_from": None, "valid_until": None, "voice": None, "repeat_count": None,
                 "repeat_interval_s": None, "recording_sha256": None}
    before = hashlib.sha256(json.dumps(canonical, ensure_ascii=False, sort_keys=True,
                                       separators=(",", ":")).encode()).hexdigest()
    assert content.hash() == before
    content.cap_event = "Lũ"
    assert content.hash() != before


@pytest.mark.parametrize("fields, fragment", [
    ({"cap_category": "Weather"}, "cap_category"),
    ({"cap_event": "   "}, "cap_event"),
    ({"cap_event": ""}, "cap_event"),
    ({"instruction": "x" * 2001}, "instruction is 2001 characters"),
    ({"cap_event": "x" * 121}, "cap_event is 121 characters"),
])
def test_bad_cap_fields_are_refused_and_nothing_is_made(web, fields, fragment):
    before = web.client.get("/api/v1/bulletins", headers=web.author).headers["X-Total-Count"]
    response = web.client.post("/api/v1/bulletins", headers=web.author, json={
        "title": "T", "body": "B", "targets": ["X1"], **fields})
    assert response.status_code == 422, response.text
    assert fragment in json.dumps(response.json()["detail"], ensure_ascii=False)
    assert web.client.get("/api/v1/bulletins", headers=web.author).headers["X-Total-Count"] == before


def test_an_edit_can_set_and_clear_them(web):
    bid = web.draft(title="T", body="B", targets=["X1"], cap_event="Sạt lở đất")
    edited = web.client.patch(f"/api/v1/bulletins/{bid}", headers=web.author,
                              json={"cap_event": None, "cap_category": "Geo"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["cap_event"], edited.json()["cap_category"], edited.json()["revision"]) == (None, "Geo", 2)


# --- commune outlines -------------------------------------------------------------------------------


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def hub_cli(settings, monkeypatch, capsys):
    """``hub ARGS…`` as the command line runs it, on the test's data folder and database."""
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)

    def run(*args: str) -> Done:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Done(code, out, err)
    return run


def boundaries(web) -> dict[str, dict | None]:
    with web.hub.store.reader() as session:
        return dict(session.execute(select(Commune.code, Commune.boundary)).all())


def test_imported_outlines_go_out_as_cap_polygons(web, hub_cli, tmp_path):
    path = tmp_path / "communes.geojson"
    path.write_text(collection(
        feature({"ma_xa": "X1", "ten": "Xã Hữu Lũng"}, "Polygon", [HUU_LUNG]),
        feature({"ma_xa": "X2"}, "MultiPolygon", [[LOC_BINH], [ISLAND]]),
        feature({"ma_xa": "Z9"}, "Polygon", [ISLAND]),
        feature({"ten": "không có mã"}, "Polygon", [ISLAND]),
    ), encoding="utf-8")
    done = hub_cli("communes", "import-geojson", str(path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"updated": ["X1", "X2"], "unknown": ["Z9"], "without_code": [3]}
    with web.hub.store.reader() as session:
        assert session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == "X2")
                              .order_by(AuditEvent.id.desc())) == "set_boundary"

    bid = web.publish(title="Lũ", body="Nước lên.", priority="emergency", targets=["X1", "X2"])
    area = info_of(web, bid).find(f"{NS}area")
    rings = [polygon.text for polygon in area.findall(f"{NS}polygon")]
    # CAP gives "lat,lon" pairs (GeoJSON's [lon, lat] turned round), one outer ring per polygon.
    assert rings == ["21.5,106.3 21.5,106.45 21.62,106.45 21.62,106.3 21.5,106.3",
                     "21.7,106.85 21.7,107 21.8,107 21.7,106.85",
                     "21.6,106.9 21.6,106.92 21.61,106.92 21.6,106.9"]
    assert [g.findtext(f"{NS}value") for g in area.findall(f"{NS}geocode")] == ["X1", "X2"]

    # A bulletin for every commune names the province, not 200 outlines.
    everywhere = web.publish(title="Lũ", body="Toàn tỉnh.", priority="emergency", targets=["*"])
    assert info_of(web, everywhere).find(f"{NS}area").findall(f"{NS}polygon") == []


@pytest.mark.parametrize("text, fragment", [
    ("not json", "not JSON"),
    (json.dumps({"type": "Polygon", "coordinates": [HUU_LUNG]}), "FeatureCollection"),
    (collection(feature({"code": "X1"}, "Point", [106.3, 21.5])), "Polygon or MultiPolygon, not Point"),
    (collection(feature({"code": "X1"}, "Polygon", [HUU_LUNG[:3]])), "at least 4 positions"),
    (collection(feature({"code": "X1"}, "Polygon", [[[21.5, 206.3], *HUU_LUNG[1:4], [21.5, 206.3]]])),
     "not [longitude, latitude]"),
    (collection(feature({"code": "X1"}, "Polygon", [HUU_LUNG]), feature({"code": "X1"}, "Polygon", [LOC_BINH])),
     "feature listed twice"),
    # Shapes the geojson package would not check, or would crash on (each once gave a traceback).
    (collection(feature({"code": "X1"}, "Polygon", "x")), "a list of polygons"),
    (collection(feature({"code": "X1"}, "Polygon", [])), "a list of polygons"),
    (collection(feature({"code": "X1"}, "MultiPolygon", [[]])), "a list of polygons"),
    (collection(feature({"code": "X1"}, "Polygon", [[["a", "b"], *HUU_LUNG[1:4], ["a", "b"]]])), "['a', 'b']"),
    (collection(feature({"code": "X1"}, "Polygon", [[[1], [2], [3], [1]]])), "[1] is not"),
    (collection(feature({"code": "X1"}, "Polygon", [[[True, False], *HUU_LUNG[1:4], [True, False]]])), "True"),
])
def test_a_bad_file_changes_nothing(web, hub_cli, tmp_path, text, fragment):
    good = tmp_path / "good.geojson"
    good.write_text(collection(feature({"code": "X2"}, "Polygon", [LOC_BINH])), encoding="utf-8")
    assert hub_cli("communes", "import-geojson", str(good)).returncode == 0
    before = boundaries(web)

    bad = tmp_path / "bad.geojson"
    bad.write_text(text, encoding="utf-8")
    done = hub_cli("communes", "import-geojson", str(bad))
    assert done.returncode == 2
    assert fragment in done.stderr
    assert boundaries(web) == before


def test_a_missing_file_is_a_clear_error(hub_cli, tmp_path):
    done = hub_cli("communes", "import-geojson", str(tmp_path / "nowhere.geojson"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "No such file" in done.stderr


def test_an_explicit_code_property_is_the_only_one_read(web, hub_cli, tmp_path):
    path = tmp_path / "communes.geojson"
    path.write_text(collection(feature({"code": "X2", "MAXA": "X1"}, "Polygon", [HUU_LUNG])), encoding="utf-8")
    done = hub_cli("communes", "import-geojson", str(path), "--code-property", "MAXA")
    assert json.loads(done.stdout)["updated"] == ["X1"]
    assert boundaries(web)["X2"] is None
