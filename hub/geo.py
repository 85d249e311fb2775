"""Commune outlines from GeoJSON: what ``hub communes import-geojson FILE`` reads.

A province's GIS office publishes its communes as a GeoJSON FeatureCollection (RFC 7946), one
Feature per commune with the commune's code among its properties. Each outline is kept on the
commune as its geometry and goes out in CAP alerts as ``<polygon>`` (plugins/hub_web/cap.py).
Parsing and the structural checks (rings closed, at least four positions) are the ``geojson``
package's (PyPI, BSD); the ranges of longitude and latitude are checked here, since it does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import geojson

from hub.errors import Invalid

SHAPES = ("Polygon", "MultiPolygon")
#: Property names tried, in order, when the caller names none (English, then Vietnamese GIS usage).
CODE_PROPERTIES = ("code", "ma_xa", "MA_XA", "maxa", "ma")
#: An outline with more points than this would make every CAP alert of the commune megabytes long.
MAX_POSITIONS = 5_000


@dataclass
class Outlines:
    """The outlines a file gives, by commune code, and the features it could not use."""

    by_code: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Index of each feature with no code property (its geometry is valid).
    without_code: list[int] = field(default_factory=list)


def _positions(shape: dict[str, Any]) -> list[list[float]]:
    polygons = [shape["coordinates"]] if shape["type"] == "Polygon" else shape["coordinates"]
    return [position for polygon in polygons for ring in polygon for position in ring]


def _check_shape(index: int, shape: Any) -> dict[str, Any]:
    where = f"feature {index}"
    if not isinstance(shape, dict) or shape.get("type") not in SHAPES:
        kind = shape.get("type") if isinstance(shape, dict) else None
        raise Invalid(f"{where}: the geometry must be a Polygon or MultiPolygon, not {kind}")
    # The shape first (every polygon has an outer ring, every position two or three numbers), which
    # the geojson package assumes rather than checks; then its own checks (closed rings of 4+).
    coordinates = shape.get("coordinates")
    polygons = [coordinates] if shape["type"] == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons or not all(
            isinstance(polygon, list) and polygon and all(isinstance(ring, list) for ring in polygon)
            for polygon in polygons):
        raise Invalid(f"{where}: coordinates must be a list of polygons, each a list of rings")
    for polygon in polygons:
        for ring in polygon:
            for position in ring:
                if not (isinstance(position, list) and 2 <= len(position) <= 3 and all(
                        isinstance(n, (int, float)) and not isinstance(n, bool) for n in position)):
                    raise Invalid(f"{where}: position {position!r} is not [longitude, latitude]")
    try:
        errors = geojson.GeoJSON.to_instance(shape, strict=True).errors()
    except (ValueError, TypeError) as exc:
        raise Invalid(f"{where}: {exc}") from None
    if errors:
        raise Invalid(f"{where}: {errors if isinstance(errors, str) else '; '.join(map(str, errors))}")
    positions = _positions(shape)
    if len(positions) > MAX_POSITIONS:
        raise Invalid(f"{where}: {len(positions)} positions; simplify the outline to at most {MAX_POSITIONS}")
    for position in positions:
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise Invalid(f"{where}: position {position} is not [longitude, latitude] in degrees")
    return {"type": shape["type"], "coordinates": shape["coordinates"]}


def read_outlines(text: str | bytes, code_property: str | None = None) -> Outlines:
    """Every commune outline in a GeoJSON FeatureCollection; Invalid (naming the feature) for a
    file that is not one, or any geometry that is not a valid Polygon or MultiPolygon."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        raise Invalid("the file must be a GeoJSON FeatureCollection")
    names = (code_property,) if code_property else CODE_PROPERTIES
    outlines = Outlines()
    for index, feature in enumerate(document["features"]):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise Invalid(f"feature {index}: not a GeoJSON Feature")
        shape = _check_shape(index, feature.get("geometry"))
        properties = feature.get("properties") or {}
        code = next((str(properties[name]).strip() for name in names
                     if isinstance(properties, dict) and properties.get(name) not in (None, "")), None)
        if code is None:
            outlines.without_code.append(index)
        elif code in outlines.by_code:
            raise Invalid(f"feature {index}: commune {code} has an outline already (feature listed twice)")
        else:
            outlines.by_code[code] = shape
    return outlines
