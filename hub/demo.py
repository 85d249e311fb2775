"""``hub demo``: a province with communes, people, devices and approved bulletins, rendered offline."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from sqlalchemy import func, select

from hub.auth import Principal
from hub.clock import utcnow
from hub.config import Settings
from hub.models import User
from hub.runtime import Hub
from hub.services import Transaction

COMMUNES = [
    ("LSN-LVT", "Phường Lương Văn Tri", None),
    ("LSN-TT", "Phường Tam Thanh", None),
    ("LSN-CL", "Xã Cao Lộc", None),
    ("LSN-LB", "Xã Lộc Bình", None),
]

BULLETINS = [
    {
        "ref": "tiem-chung-12-2026",
        "title": "Thông báo lịch tiêm chủng mở rộng tháng 12/2026",
        "body": (
            "Trạm Y tế phường Lương Văn Tri thông báo: ngày 05/12/2026, từ 7h30 đến 11h00, tổ chức tiêm "
            "chủng mở rộng cho trẻ từ 02 đến 24 tháng tuổi tại nhà văn hóa khối 3. Đề nghị các gia đình "
            "mang theo sổ tiêm chủng. Mọi thắc mắc xin liên hệ số điện thoại 0205 3812 345."
        ),
        "priority": "normal", "targets": ["LSN-LVT"],
    },
    {
        "ref": "thi-dua-2027",
        "title": "UBND tỉnh phát động phong trào thi đua năm 2027",
        "body": (
            "Thực hiện Nghị quyết Đại hội Đảng bộ tỉnh lần thứ XVIII, UBND tỉnh phát động phong trào thi đua "
            "giai đoạn 2026 - 2031 với mục tiêu tăng trưởng kinh tế 8,5% mỗi năm. Các xã, phường tổ chức "
            "tuyên truyền sâu rộng đến toàn thể nhân dân."
        ),
        "priority": "priority", "targets": ["*"],
    },
    {
        "ref": "canh-bao-mua-lu",
        "title": "Cảnh báo mưa lớn và lũ quét",
        "body": (
            "Trung tâm Khí tượng Thủy văn tỉnh cảnh báo: từ đêm nay đến ngày 28/11, khu vực xã Cao Lộc và xã "
            "Lộc Bình có mưa to, lượng mưa phổ biến 100 - 150 mm. Nguy cơ cao xảy ra lũ quét, sạt lở đất. "
            "Người dân không đi qua ngầm tràn, suối sâu; di chuyển tài sản đến nơi an toàn."
        ),
        "priority": "emergency", "targets": ["LSN-CL", "LSN-LB"],
    },
]


def _has_data(hub: Hub) -> bool:
    with hub.store.reader() as session:
        return bool(session.scalar(select(func.count()).select_from(User)))


def run_demo(settings: Settings, *, fresh: bool = False) -> int:
    # The demo renders offline whatever the configured chain says, so it works with no internet.
    settings = settings.model_copy(update={"tts_engines": ["espeak"]})
    hub = Hub.open(settings)
    tokens_file = settings.data_dir / "demo-tokens.json"
    try:
        if _has_data(hub) and not fresh:
            print(f"The data folder {settings.data_dir} has data already; nothing added.")
            print(f"The console: {settings.public_url.rstrip('/')}/console")
            if tokens_file.exists():
                print(f"Demo tokens (from {tokens_file}):")
                print(tokens_file.read_text())
            return 0
        created = _fill(hub)
        tokens_file.write_text(json.dumps(created, ensure_ascii=False, indent=2, default=str))
        tokens_file.chmod(0o600)
        rendered = 0
        while hub.pipeline.run_one():
            rendered += 1
        _sync_example_playlists(hub)
        _report(settings, created, rendered)
        return 0
    finally:
        hub.close()


def _fill(hub: Hub) -> dict:
    """Everything through the services, as any other door would (approval fires its hooks too),
    in one transaction: a demo that fails half-way leaves the data folder empty, ready to try again."""
    with hub.services.transaction() as tx:
        return _fill_in(hub, tx)


def _fill_in(hub: Hub, tx: Transaction) -> dict:
    now = utcnow()
    directory = hub.services.directory
    for code, name, voice in COMMUNES:
        directory.add_commune(None, code, name, voice=voice, tx=tx)
    people = {"admin": ("quantri", "admin", None), "editor": ("bientap", "editor", None),
              "approver": ("pheduyet", "editor", None), "monitor": ("giamsat", "monitor", None),
              "operator": ("vanhanh-lvt", "operator", "LSN-LVT")}
    users = {}
    for key, (name, role, commune) in people.items():
        password = secrets.token_urlsafe(9)  # a console password, printed once with the token
        users[key] = {**directory.add_user(None, name, role, commune, password=password, tx=tx), "password": password}
    devices = {
        "speaker": directory.register_device(None, "Cụm loa khối 3", "LSN-LVT", "speaker", tx=tx),
        "speaker_cl": directory.register_device(None, "Cụm loa thôn Nà Cạn", "LSN-CL", "speaker", tx=tx),
        "display": directory.register_device(None, "Bảng tin UBND phường", "LSN-LVT", "display", tx=tx),
    }
    author = Principal(users["editor"]["id"], "bientap", "editor")
    approver = Principal(users["approver"]["id"], "pheduyet", "editor")
    bulletins = hub.services.bulletins
    ids = []
    for spec in BULLETINS:
        content = bulletins.Content(title=spec["title"], body=spec["body"], priority=spec["priority"],
                                    channels=["speaker", "display", "web"], targets=spec["targets"],
                                    valid_from=now - timedelta(hours=1), valid_until=now + timedelta(days=30))
        bulletin, _ = bulletins.create(author, content, source="demo", source_ref=spec["ref"], tx=tx)
        bulletins.submit(author, bulletin["id"], tx=tx)
        bulletins.approve(approver, bulletin["id"], tx=tx)
        ids.append(bulletin["id"])
    return {"users": users, "devices": devices, "bulletins": ids}


def _sync_example_playlists(hub: Hub) -> None:
    from pathlib import Path

    folder = Path("playlists")
    if not folder.is_dir():
        return
    report = hub.services.playlists.sync(folder)
    print(f"Playlists from {folder}/: {len(report.created)} created; {len(report.errors)} with errors.")
    for error in report.errors:
        print(f"  {error}")


def _report(settings: Settings, created: dict, rendered: int) -> None:
    base = settings.public_url.rstrip("/")
    print(f"Demo data added to {settings.data_dir} ({rendered} render jobs run offline).")
    print(f"Start the hub with `hub serve`, then open {base}/docs for the API.")
    print(f"The console: {base}/console (sign in with a name and password below).")
    for role, user in created["users"].items():
        print(f"  {role:9} {user['name']:12} password {user.get('password', '-'):14} token {user['token']}")
    for kind, device in created["devices"].items():
        print(f"  device    {device['name'][:20]:20} token {device['token']}")
    first = created["bulletins"][0]
    editor = created["users"]["editor"]["token"]
    speaker = created["devices"]["speaker"]["token"]
    display = created["devices"]["display"]["token"]
    print("Try:")
    print(f"  curl -H 'Authorization: Bearer {editor}' {base}/api/v1/bulletins")
    print(f"  curl -H 'Authorization: Bearer {editor}' {base}/api/v1/bulletins/{first}/artifacts")
    print(f"  curl -H 'Authorization: Bearer {speaker}' {base}/api/v1/device/manifest")
    print(f"  a display board:        {base}/display?token={display}")
    print(f"  a public bulletin page: {base}/b/{first}")
    print(f"  the feeds:              {base}/feeds/all.rss  {base}/feeds/LSN-LVT.json  {base}/feeds/cap.atom")
    print(f"  a loudspeaker:          hub agent --server {base} --token {speaker} --cache ./var/agent")
    print(f"Tokens are saved (mode 600) in {settings.data_dir / 'demo-tokens.json'}.")
