"""System principals: the user rows that imported bulletins are written (and, if trusted, approved) by."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import accounts
from hub.auth import Principal
from hub.errors import Conflict
from hub.models import User


def system_principal(session: Session, name: str) -> Principal:
    """The editor-role user ``name``, created on first use; it can never log in.

    The token ``add_user`` makes is discarded and the row is deactivated, so the name stands in the
    audit log for an upstream system or a feed and nobody can act as it through the API.
    """
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        record = accounts.add_user(session, name, "editor")
        user = session.get(User, record["id"])
        user.active = False
        session.flush()
    elif user.active:
        # A person's account that happens to carry the name must not become the system's voice.
        raise Conflict(f"user name {name!r} belongs to an active account; rename it so that "
                       "the ingest plugin can use the name for its system principal")
    return Principal(user.id, user.name, user.role)
