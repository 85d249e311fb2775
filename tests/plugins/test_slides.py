"""The slide renderer with real Pillow, real raqm and the fonts installed on this machine."""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import pluggy
import pytest
from PIL import Image, ImageFont, features
from pydantic import ValidationError

import hub.hookspecs
import hub_slides
from hub.config import Settings
from hub.plugin_types import BulletinSnapshot, CommuneInfo, RenderContext, RenderedMedia
from hub_slides import fonts, layout
from hub_slides.settings import SlidesSettings
from hub_slides.themes import THEMES

SENTENCES = [
    "Ủy ban nhân dân xã đề nghị bà con chủ động phòng, chống thiên tai và bảo vệ sản xuất.",
    "Nguy cơ cao xảy ra lũ quét, sạt lở đất ở vùng núi; không đi qua ngầm, tràn khi nước đang lên.",
    "Các hộ gia đình ven sông, suối khẩn trương di chuyển người và tài sản đến nơi an toàn.",
    "Mọi thông tin xin liên hệ trưởng thôn hoặc số điện thoại trực ban 0205.3812.345.",
]


def long_body(chars: int) -> str:
    parts: list[str] = []
    i = 0
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(SENTENCES[i % len(SENTENCES)])
        i += 1
        if i % 5 == 0:
            parts.append("\n\n")
    return " ".join(parts)[:chars]


def make_ctx(
    tmp_path: Path,
    *,
    title: str = "Thông báo lịch tiêm chủng mở rộng",
    body: str = "Trạm y tế xã tổ chức tiêm chủng vào sáng thứ Bảy.",
    priority: str = "normal",
    communes: tuple[CommuneInfo, ...] = (CommuneInfo("19558", "Xã Lộc Bình"), CommuneInfo("19570", "Xã Mẫu Sơn")),
    province: str = "",
    approved_at: datetime | None = datetime(2026, 3, 4, 23, 30, tzinfo=timezone.utc),
) -> RenderContext:
    bulletin = BulletinSnapshot(
        id="4f1c2b7e-0000-4000-8000-0000000000aa",
        revision=1,
        content_hash="0" * 64,
        title=title,
        body=body,
        priority=priority,
        channels=("display",),
        targets=tuple(c.code for c in communes),
        approved_at=approved_at,
    )
    return RenderContext(
        bulletin=bulletin,
        communes=communes,
        settings=Settings(data_dir=tmp_path),
        hook=None,
        media=None,
        work_dir=tmp_path,
        province=province,
    )


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch) -> SlidesSettings:
    for name in ("ORIENTATIONS", "FONT_FAMILIES", "FONT_DIRS", "FONT_REGULAR", "FONT_BOLD", "BODY_PX"):
        monkeypatch.delenv(f"HUB_SLIDES_{name}", raising=False)
    return SlidesSettings()


def texts(slide: layout.Slide, *roles: str) -> list[str]:
    return [t.text for t in slide.texts if t.role in roles]


def within(box: tuple[int, int, int, int], area: tuple[int, int, int, int]) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def stored(media: RenderedMedia) -> dict:
    """The artifact's fields as the pipeline records them: the plugin's meta and the declared fields."""
    return {**media.meta, **media.declared()}


def dominant(image: Image.Image) -> tuple[int, int, int]:
    rgb = image.convert("RGB")
    return max(rgb.getcolors(rgb.width * rgb.height))[1]


# --- registration ------------------------------------------------------------------------------


def test_registers_one_display_renderer_through_pluggy(tmp_path: Path) -> None:
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hub.hookspecs)
    pm.register(hub_slides)
    renderers = [r for group in pm.hook.hub_register_renderers(settings=Settings(data_dir=tmp_path)) for r in group]
    assert [(r.name, r.channel) for r in renderers] == [("slides", "display")]
    assert callable(renderers[0].render)


def test_raqm_layout_is_used() -> None:
    # libraqm0 is a declared system dependency; without it Vietnamese marks may be misplaced.
    assert features.check("raqm"), "Pillow does not find libraqm; install libraqm0"
    assert fonts.layout_engine() == ImageFont.Layout.RAQM


# --- output shape ------------------------------------------------------------------------------


def test_short_bulletin_gives_one_landscape_and_one_portrait_slide(tmp_path: Path, cfg: SlidesSettings) -> None:
    out = hub_slides.render(make_ctx(tmp_path), cfg)
    assert [(m.kind, m.mime) for m in out] == [("slide", "image/png")] * 2
    assert [(stored(m)["orientation"], stored(m)["page"], stored(m)["pages"]) for m in out] == [
        ("landscape", 1, 1),
        ("portrait", 1, 1),
    ]
    for media in out:
        image = png(media.data)
        assert image.format == "PNG"
        assert image.size == (stored(media)["width"], stored(media)["height"])
        assert stored(media)["duration_s"] >= cfg.min_duration_s
        assert len(media.data) < 400_000
    assert png(out[0].data).size == (1920, 1080) and png(out[1].data).size == (1080, 1920)


def test_what_the_core_reads_is_declared_and_the_artifact_keeps_its_fields(tmp_path: Path, cfg: SlidesSettings) -> None:
    out = hub_slides.render(make_ctx(tmp_path), cfg)
    assert [(m.orientation, m.page, m.pages) for m in out] == [("landscape", 1, 1), ("portrait", 1, 1)]
    assert all(m.duration_s and not {"orientation", "page", "pages", "duration_s"} & set(m.meta) for m in out)
    assert all(set(stored(m)) == {"orientation", "page", "pages", "width", "height", "duration_s", "theme"}
               for m in out)


def test_title_only_is_one_slide_per_orientation(tmp_path: Path, cfg: SlidesSettings) -> None:
    out = hub_slides.render(make_ctx(tmp_path, title="Lịch cắt điện ngày mai", body=""), cfg)
    assert [(stored(m)["page"], stored(m)["pages"]) for m in out] == [(1, 1), (1, 1)]
    slides = hub_slides.plan_bulletin(make_ctx(tmp_path, title="Lịch cắt điện ngày mai", body=""), cfg)
    assert texts(slides[0], "title") == ["Lịch cắt điện ngày mai"]
    assert texts(slides[0], "body") == []


def test_orientations_setting_limits_the_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_SLIDES_ORIENTATIONS", "portrait")
    out = hub_slides.render(make_ctx(tmp_path), SlidesSettings())
    assert [stored(m)["orientation"] for m in out] == ["portrait"]


# --- pagination and the safe area --------------------------------------------------------------


def test_twenty_thousand_characters_paginate_inside_the_safe_area(tmp_path: Path, cfg: SlidesSettings) -> None:
    body = long_body(20_000)
    ctx = make_ctx(tmp_path, body=body)
    slides = hub_slides.plan_bulletin(ctx, cfg)
    for orientation in ("landscape", "portrait"):
        group = [s for s in slides if s.orientation == orientation]
        total = len(group)
        assert total > 10
        for number, slide in enumerate(group, start=1):
            assert (slide.page, slide.pages) == (number, total)
            assert texts(slide, "page") == [f"Trang {number}/{total}"]
            for item in slide.texts:
                assert within(item.box, slide.safe), (orientation, number, item.text, item.box, slide.safe)
            # Nothing is shrunk to fit: every body line uses the configured size.
            assert {t.font.size for t in slide.texts if t.role == "body"} <= {cfg.body_px}
            assert 0 < slide.qr.x and slide.qr.x + slide.qr.size <= slide.safe[2]
        # No word lost, none repeated, order kept.
        flowed = " ".join(t for s in group for t in texts(s, "body"))
        assert flowed.split() == body.split()
        assert all(texts(s, "running") for s in group[1:])

    # One orientation at zlib level 1 keeps this test quick; the plan above covered both.
    out = hub_slides.render(ctx, cfg.model_copy(update={"png_compress_level": 1, "orientations": ["landscape"]}))
    assert [(stored(m)["orientation"], stored(m)["page"], stored(m)["pages"]) for m in out] == [
        (s.orientation, s.page, s.pages) for s in slides if s.orientation == "landscape"
    ]
    full = [stored(m)["duration_s"] for m in out if stored(m)["page"] < stored(m)["pages"]]
    assert all(cfg.min_duration_s < d <= cfg.max_duration_s for d in full)


def test_a_300_character_word_is_hard_broken_and_stays_inside(tmp_path: Path, cfg: SlidesSettings) -> None:
    word = ("Nghiêng" * 50)[:300]
    ctx = make_ctx(tmp_path, title="Từ rất dài", body=word, priority="emergency")
    slides = hub_slides.plan_bulletin(ctx, cfg)
    for orientation in ("landscape", "portrait"):
        lines = [line for s in slides if s.orientation == orientation for line in texts(s, "body")]
        assert len(lines) > 3
        assert "".join(lines) == word
    for slide in slides:
        for item in slide.texts:
            assert within(item.box, slide.safe)
            assert within(item.box, (0, 0, slide.width, slide.height))

    image = png(hub_slides.render(ctx, cfg)[0].data).convert("RGB")
    slide = slides[0]
    body_rows = [t.box for t in slide.texts if t.role == "body"]
    # The strip right of the safe area, beside the body, holds background only.
    strip = image.crop((slide.safe[2], body_rows[0][1], slide.width, body_rows[-1][3]))
    assert strip.getcolors() == [(strip.width * strip.height, THEMES["emergency"].background)]


def test_paragraphs_and_line_breaks_are_kept(tmp_path: Path, cfg: SlidesSettings) -> None:
    body = "Đoạn một.\n\n\nĐoạn hai, dòng một.\nĐoạn hai, dòng hai."
    slide = hub_slides.plan_bulletin(make_ctx(tmp_path, body=body), cfg)[0]
    body_items = [t for t in slide.texts if t.role == "body"]
    assert [t.text for t in body_items] == ["Đoạn một.", "Đoạn hai, dòng một.", "Đoạn hai, dòng hai."]
    pitch_within = body_items[2].y - body_items[1].y
    pitch_between = body_items[1].y - body_items[0].y
    assert pitch_between > pitch_within


# --- text is text ------------------------------------------------------------------------------


def test_markup_is_drawn_as_literal_text(tmp_path: Path, cfg: SlidesSettings) -> None:
    title = "<script>alert(1)</script>"
    body = "Giá &amp; phí: <b>miễn</b> \u202egnol\u202c &lt;"
    slides = hub_slides.plan_bulletin(make_ctx(tmp_path, title=title, body=body), cfg)
    assert texts(slides[0], "title") == [title]
    # Entities stay as typed; the bidi override that would reverse letters is dropped.
    assert texts(slides[0], "body") == ["Giá &amp; phí: <b>miễn</b> gnol &lt;"]
    a = png(hub_slides.render(make_ctx(tmp_path, title=title, body=body), cfg)[0].data)
    b = png(hub_slides.render(make_ctx(tmp_path, title="alert(1)", body=body), cfg)[0].data)
    assert a.tobytes() != b.tobytes()


def test_input_is_nfc_normalised(tmp_path: Path, cfg: SlidesSettings) -> None:
    decomposed = unicodedata.normalize("NFD", "Tiếng Việt đẹp")
    slide = hub_slides.plan_bulletin(make_ctx(tmp_path, title=decomposed, body=""), cfg)[0]
    assert texts(slide, "title") == ["Tiếng Việt đẹp"]


# --- Vietnamese glyphs -------------------------------------------------------------------------


def test_vietnamese_diacritics_have_their_own_glyphs(cfg: SlidesSettings) -> None:
    files = fonts.find_fonts(tuple(cfg.font_families), tuple(cfg.font_dirs))
    for path in (files.regular, files.bold):
        assert fonts.missing_vietnamese(path) == ""
        font = fonts.load(path, cfg.body_px)
        plain, stacked = font.getbbox("E", anchor="la", language="vi"), font.getbbox("Ệ", anchor="la", language="vi")
        assert stacked[1] < plain[1] and stacked[3] > plain[3]  # marks above and a dot below
        assert font.getmask("Ệ").getbbox() != font.getmask("E").getbbox()
        assert bytes(font.getmask("ư")) != bytes(font.getmask("u"))


def test_each_vietnamese_line_is_fully_on_the_slide(tmp_path: Path, cfg: SlidesSettings) -> None:
    title = "ỆẶẪỸ ỆẶẪỸ ỆẶẪỸ"
    slide = hub_slides.plan_bulletin(make_ctx(tmp_path, title=title, body="ỵ ạ ặ ệ"), cfg)[0]
    rows = [t for t in slide.texts if t.role in ("title", "body")]
    for upper, lower in zip(rows, rows[1:]):
        assert upper.box[3] <= lower.box[1]  # the dot below never touches the marks above


# --- themes and header -------------------------------------------------------------------------


def test_emergency_is_unmistakable(tmp_path: Path, cfg: SlidesSettings) -> None:
    normal = hub_slides.render(make_ctx(tmp_path, priority="normal"), cfg)
    emergency = hub_slides.render(make_ctx(tmp_path, priority="emergency"), cfg)
    for n, e in zip(normal, emergency):
        n_colour, e_colour = dominant(png(n.data)), dominant(png(e.data))
        assert n_colour == THEMES["normal"].background
        assert e_colour == THEMES["emergency"].background
        red, green, blue = e_colour
        assert red > 150 and green < 60 and blue < 60
        assert stored(e)["theme"] == "emergency"
    slide = hub_slides.plan_bulletin(make_ctx(tmp_path, priority="emergency"), cfg)[0]
    assert texts(slide, "banner") == ["KHẨN CẤP"]
    assert texts(hub_slides.plan_bulletin(make_ctx(tmp_path, priority="priority"), cfg)[0], "banner") == ["ƯU TIÊN"]
    assert texts(hub_slides.plan_bulletin(make_ctx(tmp_path), cfg)[0], "banner") == []


def test_unknown_priority_fails_loudly(tmp_path: Path, cfg: SlidesSettings) -> None:
    with pytest.raises(ValueError, match="no slide theme"):
        hub_slides.plan_bulletin(make_ctx(tmp_path, priority="urgent"), cfg)


def test_header_names_province_communes_and_local_date(tmp_path: Path, cfg: SlidesSettings) -> None:
    slide = hub_slides.plan_bulletin(make_ctx(tmp_path), cfg)[0]
    # 23:30 UTC on 4 March is already 5 March in Asia/Ho_Chi_Minh.
    assert texts(slide, "header") == ["TỈNH LẠNG SƠN", "Xã Lộc Bình, Xã Mẫu Sơn", "Ngày 05/03/2026"]
    slide = hub_slides.plan_bulletin(make_ctx(tmp_path, province="Tỉnh Cao Bằng", priority="emergency"), cfg)[0]
    assert texts(slide, "header")[0] == "TỈNH CAO BẰNG"
    assert texts(slide, "header")[2] == "06:30 ngày 05/03/2026"


def test_many_communes_are_summarised(tmp_path: Path, cfg: SlidesSettings) -> None:
    communes = tuple(CommuneInfo(str(i), f"Xã Thử Nghiệm {i}") for i in range(60))
    for slide in hub_slides.plan_bulletin(make_ctx(tmp_path, communes=communes), cfg):
        line = texts(slide, "header")[1]
        assert line.startswith("Xã Thử Nghiệm 0") and line.endswith("và 59 xã, phường khác"[-14:])
        assert "Xã Thử Nghiệm 59" not in line


def test_qr_code_links_to_the_public_page_and_is_drawn(tmp_path: Path, cfg: SlidesSettings) -> None:
    ctx = make_ctx(tmp_path)
    link = layout.public_link(ctx.settings.public_url, ctx.bulletin.id)
    assert link == "http://127.0.0.1:8000/b/4f1c2b7e-0000-4000-8000-0000000000aa"
    slide = hub_slides.plan_bulletin(ctx, cfg)[0]
    assert slide.qr.matrix == layout.qr_matrix(link)
    assert slide.qr.module_px >= 3
    image = png(hub_slides.render(ctx, cfg)[0].data).convert("L")
    m = slide.qr.module_px
    for r, row in enumerate(slide.qr.matrix):
        for c, dark in enumerate(row):
            value = image.getpixel((slide.qr.x + c * m + m // 2, slide.qr.y + r * m + m // 2))
            assert (value < 64) if dark else (value > 192)


# --- determinism, fonts, settings --------------------------------------------------------------


def test_identical_input_gives_identical_bytes(tmp_path: Path, cfg: SlidesSettings) -> None:
    ctx = make_ctx(tmp_path, body=long_body(700), priority="priority")
    first = [m.data for m in hub_slides.render(ctx, cfg)]
    fonts.load.cache_clear()
    fonts.find_fonts.cache_clear()
    second = [m.data for m in hub_slides.render(make_ctx(tmp_path, body=long_body(700), priority="priority"), cfg)]
    assert first == second
    assert len(set(first)) == len(first)


def test_font_family_setting_and_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_SLIDES_FONT_FAMILIES", "DejaVuSans")
    dejavu = SlidesSettings()
    files = fonts.find_fonts(tuple(dejavu.font_families), tuple(dejavu.font_dirs))
    assert files.regular.name == "DejaVuSans.ttf" and files.bold.name == "DejaVuSans-Bold.ttf"
    slides = hub_slides.plan_bulletin(make_ctx(tmp_path, title="ỆẶẪỸ " * 8, body=long_body(600)), dejavu)
    assert all(within(t.box, s.safe) for s in slides for t in s.texts)

    monkeypatch.setenv("HUB_SLIDES_FONT_DIRS", str(tmp_path))
    with pytest.raises(fonts.FontNotFoundError, match="fonts-noto-core"):
        hub_slides.render(make_ctx(tmp_path), SlidesSettings())
    monkeypatch.delenv("HUB_SLIDES_FONT_DIRS")
    monkeypatch.setenv("HUB_SLIDES_FONT_REGULAR", str(tmp_path / "missing.ttf"))
    monkeypatch.setenv("HUB_SLIDES_FONT_BOLD", str(tmp_path / "missing.ttf"))
    with pytest.raises(fonts.FontNotFoundError, match="missing.ttf"):
        hub_slides.render(make_ctx(tmp_path), SlidesSettings())


def test_text_below_the_readable_minimum_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_SLIDES_BODY_PX", "30")
    with pytest.raises(ValidationError):
        SlidesSettings()


def test_the_console_can_see_a_slide_before_it_is_approved(settings, cfg: SlidesSettings) -> None:
    from fastapi.testclient import TestClient

    from hub.app import create_app
    from hub.plugins import make_plugin_manager
    from tests.conftest import People

    with TestClient(create_app(settings, pm=make_plugin_manager(settings))) as client:
        people = People(client.app.state.hub)
        people.commune("A")
        editor = people.user("tacgia", "editor")
        text = {"title": "Thông báo lịch tiêm chủng", "body": SENTENCES[0], "priority": "emergency"}
        r = client.post("/api/v1/slides/preview.png", json=text, headers=editor)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png" and r.headers["x-slide-pages"] == "1"
        image = png(r.content)
        assert image.size == (1920, 1080) and dominant(image) == THEMES["emergency"].background
        tall = client.post("/api/v1/slides/preview.png", json={**text, "orientation": "portrait"},
                           headers=people.user("op", "operator", "A"))
        assert tall.status_code == 200 and png(tall.content).size == (1080, 1920)
        assert client.post("/api/v1/slides/preview.png", json=text).status_code == 401
        device = people.device("bang-1", "A", "display")
        assert client.post("/api/v1/slides/preview.png", json=text, headers=device).status_code == 403
        for bad in ({**text, "body": "x" * 20_001}, {**text, "priority": "urgent"}, {"title": "", "body": " "},
                    {**text, "title": "a\x00"}):
            r = client.post("/api/v1/slides/preview.png", json=bad, headers=editor)
            assert r.status_code == 422 and r.json()["detail"], bad
