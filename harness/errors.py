"""One small exception tree. Every error names the thing, what was expected and the fix."""

from __future__ import annotations

from pathlib import Path


class RvconformError(Exception):
    """Base of every error the harness raises on purpose.

    ``str(error)`` is a complete message for a user: what went wrong, and the fix when one is known.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message

    def __repr__(self) -> str:
        # Short: pytest's assertion explanations repeat an object's repr; str() says the message once.
        lines = self.message.splitlines() or [""]
        more = ", ..." if len(lines) > 1 or len(lines[0]) > 80 else ""
        return f"{type(self).__name__}({lines[0][:80]!r}{more})"

class RecipeError(RvconformError):
    """A recipe directory or its image.toml is missing or malformed."""


class SourceError(RvconformError):
    """A recipe's source could not be fetched, or its checksum did not match."""


class BootstrapError(RvconformError):
    """A base image could not be made from the Debian mirror."""


class BuildError(RvconformError):
    """A recipe failed to build; ``log_path`` holds the whole build log."""

    def __init__(self, message: str, *, log_path: Path | None = None, fix: str | None = None) -> None:
        self.log_path = log_path
        super().__init__(message, fix=fix)


class EngineError(RvconformError):
    """The container engine cannot be reached or refused a request."""


class RegistryError(RvconformError):
    """A registry cannot be started, reached, or answered unexpectedly."""


class RegistryUnreachable(RegistryError):
    """Nothing answered at the registry's address (refused or timed out): may still be starting."""


class BoardError(RvconformError):
    """A board URL is invalid, or the board failed an operation."""


class BoardUnreachable(BoardError):
    """A board could not be reached at all (closed port, wrong key, VM that did not boot)."""


class ReadinessTimeout(RvconformError):
    """A container did not become ready before its deadline, or exited while we waited.

    ``container_log`` is the container's whole output when there was a container to ask.
    """

    container_log: str | None = None
