"""Domain errors. The core raises these; hub/api/errors.py maps them to HTTP in one place."""


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    status_code = 400

    def __init__(self, detail: str, **fields: object) -> None:
        super().__init__(detail)
        self.detail = detail
        #: Structured facts beside ``detail`` in the JSON answer (e.g. CAP ingest's ``unmapped``).
        self.fields = fields


class Unauthenticated(HubError):
    status_code = 401


class Forbidden(HubError):
    status_code = 403


class NotFound(HubError):
    status_code = 404


class Conflict(HubError):
    """A workflow transition that the state machine does not allow."""

    status_code = 409


class TooLarge(HubError):
    status_code = 413


class Invalid(HubError):
    status_code = 422


class PluginError(HubError):
    """The plugin set is broken (none installed, duplicates, a bad hook implementation)."""

    status_code = 500
