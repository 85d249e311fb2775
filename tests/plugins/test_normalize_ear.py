"""Text fit for the ear (issue 16): captions and credits dropped, bare dates read as dates, and the
preview lists what the normaliser could not read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.plugins import make_plugin_manager
from hub_normalize_vi import normalize, unread_tokens
from tests.conftest import People

CAPTIONS = [
    ("Ảnh minh họa", ""),
    ("Ảnh minh hoạ.", ""),
    ("Ảnh: TTXVN", ""),
    ("Nguồn: Báo Lạng Sơn", ""),
    ("Video: Lễ hội Lồng tồng", ""),
    ("Ảnh 1: Lãnh đạo tỉnh dự lễ khai mạc.", ""),
    ("Nông dân thu hoạch lúa (Ảnh: TTXVN).", "Nông dân thu hoạch lúa."),
    ("Bà con dự lễ (ảnh minh họa).", "Bà con dự lễ."),
    ("Lễ hội năm nay (Video: VTV) rất đông.", "Lễ hội năm nay rất đông."),
    ("Giá lúa tăng (Nguồn: Sở Nông nghiệp).", "Giá lúa tăng."),
    ("Bà con ra đồng sớm. Ảnh: Minh Anh", "Bà con ra đồng sớm."),
    ("Bà con ra đồng sớm. Nguồn: Cổng thông tin tỉnh", "Bà con ra đồng sớm."),
    ("Ảnh minh họa. Nguồn: internet", ""),
    ("Ảnh minh họa. Bà con gặt lúa.", "Bà con gặt lúa."),
    # Not credits: the word starts an ordinary sentence, or has no colon.
    ("Ảnh hưởng của bão số 3 rất lớn.", "Ảnh hưởng của bão số ba rất lớn."),
    ("Ông nói: ảnh hưởng lớn.", "Ông nói: ảnh hưởng lớn."),
    ("Xem ảnh (trang 2).", "Xem ảnh (trang hai)."),
    ("Nguồn nước sạch đã về thôn.", "Nguồn nước sạch đã về thôn."),
]

DATES = [
    ("kỷ niệm 30/4", "kỷ niệm ngày ba mươi tháng tư"),
    ("Lễ 2/9 năm nay", "Lễ ngày mồng hai tháng chín năm nay"),
    ("mừng 1/5", "mừng ngày mồng một tháng năm"),
    ("Ngày 19/5 là sinh nhật Bác", "Ngày mười chín tháng năm là sinh nhật Bác"),
    # Not valid dates, or plainly a share: still a fraction.
    ("kỷ niệm 31/2", "kỷ niệm ba mươi mốt trên hai"),
    ("kỷ niệm 31/4", "kỷ niệm ba mươi mốt trên bốn"),
    ("15/20 xã", "mười lăm trên hai mươi xã"),
    ("1/2 số hộ", "một trên hai số hộ"),
    ("chiếm 1/3", "chiếm một trên ba"),
    ("đạt 3/4 kế hoạch", "đạt ba trên bốn kế hoạch"),
]


@pytest.mark.parametrize(("text", "spoken"), CAPTIONS + DATES)
def test_table(text: str, spoken: str) -> None:
    assert normalize(text) == spoken
    assert normalize(spoken) == spoken


UNREAD = [
    ("BQLDA xã họp.", [("BQLDA", "abbreviation")]),
    ("Xem trên Facebook và Zalo của xã.", [("Facebook", "letters"), ("Zalo", "letters")]),
    ("Văn bản QLTTBCGĐ, xyz.", [("QLTTBCGĐ", "abbreviation"), ("xyz", "letters")]),
    # Known or readable: nothing to report.
    ("HĐND xã họp tại thôn Pò Mã, Đắk Lắk, người H'Mông.", []),
    ("THÔNG BÁO KHẨN: nhiệt độ âm năm độ C trên quốc lộ 1A.", []),
    ("Xem langson.gov.vn hoặc gửi thư tới vanthu@langson.gov.vn.", []),
]


@pytest.mark.parametrize(("text", "unread"), UNREAD)
def test_unread_words(text: str, unread: list[tuple[str, str]]) -> None:
    assert [(u["token"], u["kind"]) for u in unread_tokens(normalize(text))] == unread


def test_preview_lists_what_it_could_not_read(settings) -> None:
    local = settings.model_copy(update={"disabled_plugins": ["slides"], "tts_engines": ["espeak"]})
    with TestClient(create_app(local, pm=make_plugin_manager(local))) as client:
        people = People(client.app.state.hub)
        people.commune("A")
        author = people.user("tacgia", "editor")
        r = client.post("/api/v1/speech/preview", headers=author,
                        json={"text": "BQLDA họp (Ảnh: TTXVN) ngày 30/4, xem Facebook.\nẢnh minh họa"})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "spoken_text": "BQLDA họp ngày ba mươi tháng tư, xem Facebook.",
            "unread": [{"token": "BQLDA", "kind": "abbreviation"}, {"token": "Facebook", "kind": "letters"}],
        }
        clean = client.post("/api/v1/speech/preview", headers=author, json={"text": "HĐND xã họp."}).json()
        assert clean["unread"] == []
