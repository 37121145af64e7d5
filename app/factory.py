"""Build the Starlette application from a Settings object (tests pass their own)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from app.db import Database, DatabaseSetupError
from app.errors import EXCEPTION_HANDLERS
from app.logging_setup import configure_logging
from app.routes import health, items
from app.settings import Settings

log = logging.getLogger("app")


def create_app(settings: Settings) -> Starlette:
    configure_logging(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.db, app.state.db_error = None, None
        try:
            app.state.db = Database(settings)
        except DatabaseSetupError as exc:
            # Stay up and answer 503 with the reason: the health gate then reports it plainly.
            app.state.db_error = str(exc)
            log.error("database unusable: %s", exc)
        log.info("started version %s on %s", settings.app_version, settings.url.get_backend_name())
        try:
            yield
        finally:
            if app.state.db is not None:
                app.state.db.dispose()

    app = Starlette(
        routes=[*health.routes, *items.routes],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
