"""Build the Starlette application from a Settings object (tests pass their own)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from app.auth import SecretKeyError, signing_key
from app.db import DatabaseSetupError
from app.errors import EXCEPTION_HANDLERS
from app.logging_setup import configure_logging
from app.routes import health, items
from app.settings import Settings
from app.store import open_store

log = logging.getLogger("app")


def create_app(settings: Settings) -> Starlette:
    configure_logging(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.store, app.state.db_error = None, None
        try:
            app.state.store = open_store(settings)
        except DatabaseSetupError as exc:
            # Stay up and answer 503 with the reason: the health gate then reports it plainly.
            app.state.db_error = str(exc)
            log.error("database unusable: %s", exc)
        log.info("started version %s on %s", settings.app_version, settings.url.get_backend_name())
        try:
            yield
        finally:
            if app.state.store is not None:
                # After uvicorn finished the requests in flight: queued writes are committed first.
                await app.state.store.close()

    app = Starlette(
        routes=[*health.routes, *items.routes],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.settings = settings
    try:
        app.state.signing_key = signing_key(str(settings.secret_key))
    except SecretKeyError:
        # No token can be checked: every request that needs one is refused (401), none let through.
        app.state.signing_key = None
        log.warning("SECRET_KEY is unset or shorter than 32 bytes: requests that need a token are refused")
    return app
