"""The console's texts, keyed by message id; Vietnamese first (and, for now, only).

Templates call ``_("id")``; a missing id shows the id itself, so a gap is visible, never a crash.
Another language is another dict here, chosen by ``HUB_CONSOLE_LANGUAGE``.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "vi": {
        "app.name": "Hệ thống thông tin cơ sở",
        "console.title": "Bảng điều khiển",
        "login.title": "Đăng nhập",
        "login.heading": "Đăng nhập bảng điều khiển",
        "login.username": "Tên đăng nhập",
        "login.password": "Mật khẩu",
        "login.submit": "Đăng nhập",
        "login.failed": "Tên đăng nhập hoặc mật khẩu không đúng.",
        "login.throttled": "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "login.help": "Quên mật khẩu? Hãy liên hệ quản trị viên của Sở.",
        "logout.submit": "Đăng xuất",
        "home.heading": "Xin chào, {name}",
        "home.you_are": "Bạn đang đăng nhập với tên {name}.",
        "home.role": "Vai trò",
        "home.commune": "Xã, phường",
        "home.all_communes": "Toàn tỉnh",
        "home.soon": "Các trang quản lý tin bài, phê duyệt, danh sách phát và thiết bị sẽ có trong bản cập nhật tới.",
        "home.meanwhile": "Trong lúc chờ, có thể dùng giao diện lập trình (API):",
        "home.api_docs": "Tài liệu API (Swagger)",
        "home.api_redoc": "Tài liệu API (ReDoc)",
        "role.admin": "Quản trị viên",
        "role.editor": "Biên tập viên",
        "role.operator": "Cán bộ vận hành xã",
        "role.monitor": "Giám sát viên",
        "error.csrf.title": "Yêu cầu không hợp lệ",
        "error.csrf.body": "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.",
        "error.back": "Quay lại trang đăng nhập",
        "skip": "Bỏ qua đến nội dung chính",
    },
}


def translator(language: str = "vi"):
    """``_(message_id, **values)`` for one language (Vietnamese for anything unknown)."""
    table = MESSAGES.get(language, MESSAGES["vi"])

    def _(message_id: str, **values: object) -> str:
        text = table.get(message_id) or MESSAGES["vi"].get(message_id) or message_id
        return text.format(**values) if values else text

    return _
