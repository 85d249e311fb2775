"""Settings of the web channel, read from ``HUB_WEB_*`` environment variables."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# CAP 1.2 forbids spaces, commas and the XML-restricted characters in sender and identifier.
_CAP_TOKEN = re.compile(r"^[^\s,<&]+$")


class WebSettings(BaseSettings):
    """Defaults publish a working podcast feed and CAP output with no configuration."""

    model_config = SettingsConfigDict(env_prefix="HUB_WEB_", extra="ignore")

    #: Entries per feed, newest first.
    feed_limit: int = Field(default=50, ge=1, le=500)
    #: Cache-Control max-age of feeds and pages; ETags make revalidation cheap.
    max_age_s: int = Field(default=60, ge=0, le=3600)

    #: itunes:author and the feeds' author; empty means the province's name.
    podcast_author: str = ""
    #: Apple Podcasts category (and optional subcategory) of every feed.
    podcast_category: str = "Government"
    podcast_subcategory: str | None = None
    #: Square artwork (JPEG or PNG, 1400-3000 px) for podcast apps; no itunes:image when unset.
    podcast_image_url: str | None = None
    #: itunes:owner e-mail; podcast directories ask for one, apps do not.
    podcast_email: str | None = None

    #: CAP <sender>; empty means the host of HUB_PUBLIC_URL.
    cap_sender: str = ""
    #: CAP <category> of every alert the hub issues (it does not classify bulletins itself).
    cap_category: Literal["Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                          "Transport", "Infra", "CBRNE", "Other"] = "Other"
    #: CAP <event> of every alert, shown by receivers as the kind of alert.
    cap_event: str = "Thông báo khẩn cấp"
    #: CAP <severity> of an emergency bulletin (see docs/web.md for the mapping).
    cap_severity: Literal["Severe", "Extreme"] = "Severe"
    cap_certainty: Literal["Observed", "Likely", "Possible"] = "Observed"
    #: Hours an emergency's CAP alert stays in force when the bulletin has no valid_until (CAP
    #: aggregators such as Google Public Alerts require an <expires>).
    cap_expires_h: float = Field(default=24.0, gt=0, le=24 * 30)
    #: CAP <instruction>: what people should do (the bulletin's body says what happened).
    cap_instruction: str = ("Đề nghị bà con theo dõi loa truyền thanh, làm theo hướng dẫn của chính quyền "
                            "địa phương và báo ngay cho cán bộ xã khi cần giúp đỡ.")
    #: CAP <contact>: whom to call about the alert (a phone number or an office); left out when empty.
    cap_contact: str = ""

    @field_validator("cap_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if value and not _CAP_TOKEN.match(value):
            raise ValueError("must not contain spaces, commas, '<' or '&' (CAP 1.2)")
        return value

    @field_validator("podcast_image_url")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value and not value.lower().endswith((".jpg", ".png")):
            raise ValueError("podcast apps accept only a .jpg or .png image")
        return value or None

    def sender(self, public_url: str) -> str:
        """The CAP sender: the setting, else the public host (safe as a CAP token), else a fixed name."""
        if self.cap_sender:
            return self.cap_sender
        host = urlsplit(public_url).hostname or ""
        return host if host and _CAP_TOKEN.match(host) else "grassroots-hub"
