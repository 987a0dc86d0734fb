"""The aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from sniper_ha.api import middlewares
from sniper_ha.api.context import CTX_KEY, Context
from sniper_ha.api.routes import admin, cluster, tasks, workers


def create_app(ctx: Context) -> web.Application:
    app = web.Application(
        middlewares=[middlewares.errors, middlewares.auth],
        client_max_size=ctx.settings.api.max_body_bytes,
    )
    app[CTX_KEY] = ctx
    app.add_routes(tasks.routes)
    app.add_routes(workers.routes)
    app.add_routes(cluster.routes)
    app.add_routes(admin.routes)
    return app
