"""Building the configured provider and the `SandboxService` around it: the one place that knows every provider."""

from __future__ import annotations

from services.config import Config
from services.errors import ProviderError
from services.provider import Provider
from services.sandbox_service import SandboxService


def make_provider(config: Config) -> Provider:
    if config.provider == "local":
        from services.local.provider import LocalProvider

        return LocalProvider(
            config.data_dir,
            owner_label=config.owner_label,
            isolation_required=config.isolation_required,
            bwrap=config.bwrap,
            session_host=True,  # shells outlive the app (issue 11 §1): `sandbench open NAME` finds them again
        )
    if config.provider == "daytona":
        try:
            from services.daytona import DaytonaProvider  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ProviderError("the daytona provider is not available in this version of sandbench") from exc
        return DaytonaProvider(config)  # type: ignore[no-any-return,unused-ignore]
    raise ProviderError(f"unknown provider {config.provider!r}")


def make_service(config: Config) -> SandboxService:
    return SandboxService(make_provider(config), config)
