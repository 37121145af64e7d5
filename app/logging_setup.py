"""Wire the redaction filter into logging, whoever configured it first (uvicorn or nobody)."""

from __future__ import annotations

import json
import logging
import logging.config
from pathlib import Path

from app import redaction
from app.settings import Settings

LOG_CONFIG_FILE = Path(__file__).with_name("logging.json")


def _all_handlers() -> list[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    return [h for lg in loggers for h in lg.handlers]


def configure_logging(settings: Settings) -> None:
    redaction.register(redaction.secret_values(settings.source))
    redaction.register(v for v in (str(settings.secret_key), settings.url.password) if v)
    root = logging.getLogger()
    if not root.handlers:
        # Nobody configured logging (not started by our entrypoint): use our file for everything.
        logging.config.dictConfig(json.loads(LOG_CONFIG_FILE.read_text()))
    # Handler level, so records from any logger, propagated or not, pass the filter.
    for handler in _all_handlers():
        if not any(isinstance(f, redaction.RedactingFilter) for f in handler.filters):
            handler.addFilter(redaction.RedactingFilter())
        if not isinstance(handler.formatter, redaction.RedactingFormatter):
            handler.setFormatter(redaction.RedactingFormatter(handler.formatter))
    # Python's last-resort handler would print without any filter.
    logging.lastResort = None
    logging.getLogger("app").setLevel(settings.log_level)
    root.setLevel(settings.log_level)
