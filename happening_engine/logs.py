"""structlog, configured once: console lines on a TTY, one JSON object per line otherwise.

Request, user, event and booking ids are bound with contextvars, so every line carries them.
"""
from __future__ import annotations

import logging
import sys

import orjson
import structlog


def configure_logging(fmt: str = "auto", level: int = logging.INFO) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    # Our own lines (one per request at least): orjson straight to bytes, structlog's fast path.
    own_renderer, factory = (
        (structlog.processors.JSONRenderer(serializer=orjson.dumps), structlog.BytesLoggerFactory(sys.stderr.buffer))
        if use_json else (renderer, structlog.PrintLoggerFactory(sys.stderr)))
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*processors, own_renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    # Route the standard library's records (aiohttp, asyncpg) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer,
        ], foreign_pre_chain=processors)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # our middleware logs access
