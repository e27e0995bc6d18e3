"""LeadTrail's Flask service. This module holds only the app factory.

``tracker`` owns the app, the models and the HTTP surface; it may import ``attribution``
and ``crm_sync``, never the other way round.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from tracker import db
from tracker.config import Settings


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Wire the service together: settings, database, collector, blueprints, errors, CLI.

    No network, no migrations, no prompts: building an app has no side effects, so tests and
    every gunicorn worker can call it freely.
    """
    from tracker import guards, headers, ops
    from tracker.accounts.auth import SessionCookies
    from tracker.calls.views import bp as calls_bp
    from tracker.cli import register_commands
    from tracker.collect.runtime import Collector
    from tracker.collect.views import bp as collect_bp
    from tracker.costs.views import bp as costs_bp
    from tracker.crm.views import api_bp as crm_api_bp
    from tracker.crm.webhooks import bp as webhooks_bp
    from tracker.dashboard.views import bp as dashboard_bp
    from tracker.dashboard.views import home_bp
    from tracker.destinations.views import bp as destinations_bp
    from tracker.errors import register_error_handlers
    from tracker.leads.views import bp as leads_bp
    from tracker.logging import configure_logging
    from tracker.openapi import bp as openapi_bp
    from tracker.reports.views import bp as reports_bp
    from tracker.secret_key import app_secret_key
    from tracker.segment.views import bp as segment_bp
    from tracker.throttle import build_throttle
    from tracker.worker.queue import install_hooks

    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.config.update(
        LEADTRAIL_SETTINGS=settings,
        SECRET_KEY=app_secret_key(settings),
        # Lax keeps the session cookie off cross-site POSTs (a second line behind the CSRF
        # token); Secure is set per request when it came over https (SessionCookies).
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        JSON_SORT_KEYS=False,
    )
    app.session_interface = SessionCookies()
    app.extensions["leadtrail.login_throttle"] = build_throttle(settings.redis_url)
    guards.init_app(app)
    headers.init_app(app)
    configure_logging(app, settings.log_level)
    install_hooks()  # writers' notes (tracker.changes) become refresh-queue rows on commit
    db.init_app(app, engine)
    app.extensions["leadtrail.collector"] = Collector.build(db.get_engine(app), settings)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )
    app.register_blueprint(collect_bp)
    app.register_blueprint(segment_bp)
    app.register_blueprint(calls_bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(leads_bp)
    app.register_blueprint(costs_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(crm_api_bp)
    app.register_blueprint(destinations_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(home_bp)
    if settings.demo:
        from tracker.demo.views import bp as demo_bp

        app.register_blueprint(demo_bp)
    register_error_handlers(app)
    register_commands(app)
    return app
