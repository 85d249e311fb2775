"""The approval page warns in Vietnamese when the speech checker heard a recording that does not
say the bulletin's text (CONTRACT §Checking recordings by ear). The check itself is tested on real
audio in test_asr.py; here the revision carries a stored result, as the worker leaves it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.models import Revision
from tests.plugins.console_client import signed_in
from tests.plugins.test_console_bulletins import act, approver, author, status_of, world, write  # noqa: F401


def set_check(hub, bid: str, check: dict | None) -> None:
    with hub.store.session() as session:
        revision = session.scalars(select(Revision).where(Revision.bulletin_id == bid)).all()[-1]
        revision.recording_sha256 = "ab" * 32
        revision.recording_check = check


@pytest.mark.sqlite_only
def test_the_approval_page_warns_when_the_recording_does_not_match(author, approver, world):
    bid = write(author, action="submit")
    set_check(world, bid, {"status": "done", "transcript": "nước sông lên nhanh", "wer": 0.93, "matches": False})
    page = approver.get(f"/console/bulletins/{bid}")
    assert page.status_code == 200
    assert "bản ghi âm có vẻ không đúng với nội dung bản tin" in page.text
    assert "0,93" in page.text and "nước sông lên nhanh" in page.text and 'role="alert"' in page.text

    set_check(world, bid, {"status": "done", "transcript": "tiêm tại trạm y tế", "wer": 0.2, "matches": True})
    assert "không đúng với nội dung" not in approver.get(f"/console/bulletins/{bid}").text
    set_check(world, bid, {"status": "pending"})
    assert "Đang nghe thử bản ghi âm" in approver.get(f"/console/bulletins/{bid}").text
