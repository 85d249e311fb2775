"""A throwaway plugin that records every hub_on_bulletin_approved call (loaded by name in tests)."""

from hub import hookimpl

APPROVED: list[tuple[str, int, str]] = []


@hookimpl
def hub_on_bulletin_approved(bulletin) -> None:
    APPROVED.append((bulletin.id, bulletin.revision, bulletin.content_hash))
