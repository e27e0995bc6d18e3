"""Dashboard routes under ``/dashboard``: parse the URL filters, call the plain functions of
this package, render a template. Every page needs a signed-in user; every POST needs the
session's CSRF token (checked before the handler runs)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from tracker.accounts.auth import signed_in_user_id
from tracker.accounts.signin import (
    authenticate_throttled,
    check_csrf,
    csrf_token,
    current_user,
    safe_next,
    sign_in,
    sign_out,
)
from tracker.accounts.users import set_password
from tracker.calls.inbox import pending_calls
from tracker.calls.inbox import replay_calls as replay_call_inbox
from tracker.config import Settings
from tracker.costs.adspend import accounts as ad_accounts
from tracker.costs.service import MAX_UPLOAD_BYTES, CostImportError
from tracker.dashboard import calls as call_figures
from tracker.dashboard import destinations as destination_page
from tracker.dashboard import journeys, setup, spend_oauth
from tracker.dashboard import leads as lead_list
from tracker.dashboard import overview as overview_figures
from tracker.dashboard import paths as conversion_paths
from tracker.dashboard.context import PageContext, page_context
from tracker.dashboard.filters import COMPARISONS, FILTER_KEYS, LEVELS, parse_filters, presets
from tracker.dashboard.formatting import UNKNOWN, SiteFormatter
from tracker.dashboard.models_help import COMPARISON_BASE, MODEL_HELP
from tracker.db import PROJECT_ROOT, get_engine, get_session, write_session
from tracker.destinations import check as destination_check
from tracker.destinations import sender as destination_sender
from tracker.destinations import service as destination_service
from tracker.errors import (
    LeadTrailError,
    NotFound,
    TooManyAttempts,
    Unauthorized,
    ValidationError,
)
from tracker.guards import limit_body, read_upload
from tracker.leads.identity import reachable_email
from tracker.leads.service import get_lead
from tracker.leads.stages import STAGES
from tracker.localtime import local_today
from tracker.models import User
from tracker.models.base import utcnow
from tracker.reports.paths import PATH_CONVERSIONS, PATH_LEVELS, every_paths_view
from tracker.reports.query import NONE_LABEL
from tracker.sites.keys import create_api_key, list_api_keys, revoke_api_key
from tracker.sites.service import script_tag

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
# The server's root: people type the bare host and expect the dashboard.
home_bp = Blueprint("home", __name__)
STATIC = PROJECT_ROOT / "static"
ASSET_DIRECTORIES = ("dashboard", "vendor")
PUBLIC_ENDPOINTS = frozenset({"dashboard.login", "dashboard.asset"})


@bp.record_once
def _configure(state: Any) -> None:
    app: Flask = state.app
    app.jinja_env.globals.update(csrf_token=csrf_token)


@bp.before_request
def _guard() -> BaseResponse | None:
    check_csrf()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user_id = signed_in_user_id()
    user = get_session().get(User, user_id) if user_id is not None else None
    if user is None:
        if request.method != "GET":
            raise Unauthorized("sign in first", field="session")
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    g.dashboard_user = user
    return None


@bp.errorhandler(LeadTrailError)
def _error_page(error: LeadTrailError) -> tuple[str, int]:
    return render_template("dashboard/error.html", error=error), error.status


def _context() -> PageContext:
    filters = parse_filters(request.args, utcnow().date())
    return page_context(get_session(), current_user(), filters)


def site_formatter(ctx: PageContext) -> SiteFormatter:
    return SiteFormatter(ctx.settings.currency, ctx.settings.timezone)


def lead_address(email: str, phone: str | None) -> str:
    """How a lead is named on the pages: its email, or a phone-only caller's number."""
    return reachable_email(email) or f"{phone} (caller)"


def _render(template: str, ctx: PageContext, **values: Any) -> str:
    def dash_url(endpoint: str, **changes: Any) -> str:
        extra = {k: v for k, v in changes.items() if k not in FILTER_KEYS}
        query = ctx.filters.query(**{k: v for k, v in changes.items() if k not in extra})
        if endpoint == request.endpoint and "cols" in request.args and "cols" not in extra:
            # The column chooser's pick stays with the page it was made on (drill-downs).
            extra["cols"] = ",".join(request.args.getlist("cols"))
        return url_for(endpoint, **extra, **query)

    def range_url(first: dt.date, last: dt.date) -> str:
        """This page over another date range (the picker's shortcuts)."""
        here = str(request.endpoint)
        dates = {"from": first.isoformat(), "to": last.isoformat()}
        return dash_url(here, **(request.view_args or {}), **dates)

    return render_template(template, ctx=ctx, dash_url=dash_url, range_url=range_url,
                           levels=LEVELS, lead_address=lead_address,
                           fmt=site_formatter(ctx), model_help=MODEL_HELP,
                           presets=presets(local_today(ctx.settings.timezone)),
                           comparisons=COMPARISONS, unknown=UNKNOWN, **values)


@home_bp.get("/")
def home() -> BaseResponse:
    return redirect(url_for("dashboard.overview"))


@bp.get("/assets/<path:name>")
def asset(name: str) -> Response:
    """The dashboard's CSS and JS and the vendored Chart.js, served from ``static/``."""
    folder, _, rest = name.partition("/")
    if folder not in ASSET_DIRECTORIES or not rest:
        raise NotFound("no such asset", field="name")
    return send_from_directory(STATIC / folder, rest, max_age=3600)


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int, dict[str, str]]:
    target = safe_next(request.values.get("next"), url_for("dashboard.overview"))
    if request.method == "GET":
        return render_template("dashboard/login.html", next=target, error=None)
    try:
        with write_session() as session:
            user = authenticate_throttled(
                session, current_app.extensions["leadtrail.login_throttle"],
                request.form.get("email", ""), request.form.get("password", ""),
                request.remote_addr, time.time(),
            )
            sign_in(user)
    except (Unauthorized, TooManyAttempts) as error:
        page = render_template("dashboard/login.html", next=target, error=error.message)
        headers = {"Retry-After": str(error.retry_after)} if isinstance(
            error, TooManyAttempts) else {}
        return page, error.status, headers
    return redirect(target)


@bp.post("/logout")
def logout() -> BaseResponse:
    with write_session() as session:
        sign_out(session, session.get_one(User, current_user().id))
    return redirect(url_for("dashboard.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> tuple[str, int]:
    """Check the current password (throttled like a sign-in), set the new one, end every
    other session of the user and keep this one."""
    if request.method == "GET":
        return render_template("dashboard/password.html", error=None, changed=False), 200
    try:
        with write_session() as session:
            user = authenticate_throttled(
                session, current_app.extensions["leadtrail.login_throttle"],
                current_user().email, request.form.get("current", ""),
                request.remote_addr, time.time(),
            )
            set_password(session, user, request.form.get("new", ""))
            session.flush()
            sign_in(user)
    except (Unauthorized, TooManyAttempts, ValidationError) as error:
        page = render_template("dashboard/password.html", error=error.message, changed=False)
        return page, error.status
    return render_template("dashboard/password.html", error=None, changed=True), 200


@bp.get("/")
def overview() -> str:
    ctx = _context()
    session = get_session()
    page = overview_figures.overview(session, ctx.site, ctx.filters, site_formatter(ctx),
                                     COMPARISONS[ctx.filters.compare].removeprefix("the "))
    return _render(
        "dashboard/overview.html",
        ctx,
        kpis=overview_figures.kpis(page, ctx.site),
        page=page,
        columns=overview_figures.choose_columns(request.args.getlist("cols")),
        all_columns=overview_figures.TABLE_COLUMNS,
        none_label=NONE_LABEL,
        comparison_label=COMPARISONS[ctx.filters.compare],
        base_model=COMPARISON_BASE,
        fitted=overview_figures.fitted_shares(session, ctx.site, ctx.models),
        fitted_meaning=overview_figures.FITTED_MEANING,
        conversion_names=overview_figures.CONVERSION_NAMES,
    )


@bp.get("/paths")
def paths() -> str:
    """Which paths convert and how long they take: the paths report's four views."""
    ctx = _context()
    query = conversion_paths.paths_query(ctx.site, ctx.filters, request.args)
    views = every_paths_view(get_session(), ctx.site, query)
    return _render("dashboard/paths.html", ctx, views=views, query=query,
                   charts=conversion_paths.charts(views, site_formatter(ctx)),
                   path_args={"level": query.report.group_by, "conversion": query.conversion},
                   path_levels=PATH_LEVELS, path_conversions=PATH_CONVERSIONS)


@bp.get("/calls")
def calls() -> str:
    """Calls by source, the latest calls and the call inbox's failures."""
    ctx = _context()
    fmt = site_formatter(ctx)
    query = call_figures.calls_query(ctx.filters, request.args)
    page = call_figures.calls_page(get_session(), ctx.site.id, ctx.settings.timezone, query)
    return _render("dashboard/calls.html", ctx, page=page,
                   call_chart=call_figures.chart(page, fmt),
                   group_names=call_figures.GROUP_NAMES)


@bp.post("/calls/replay")
def replay_calls() -> BaseResponse:
    ctx = _context()
    keys = pending_calls(get_session(), ctx.site.id)
    result = replay_call_inbox(get_engine(), keys)
    flash(f"Calls replayed: {result.applied} applied, {result.failed} failed.")
    return redirect(url_for("dashboard.calls", **ctx.filters.query()))


@bp.get("/export/<report>.csv")
def export_csv(report: str) -> Response:
    """A report of the page as CSV, rendered exactly as the reports API renders it."""
    if report not in overview_figures.REPORT_NAMES:
        raise NotFound(f"no report {report!r}", field="report")
    ctx = _context()
    name = f"{report}-{ctx.filters.start}-{ctx.filters.query()['to']}.csv"
    return Response(
        overview_figures.report_as_csv(get_session(), ctx.site, ctx.filters, report),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _lead_page(ctx: PageContext, query: lead_list.LeadQuery,
               limit: int = lead_list.PAGE_SIZE) -> lead_list.LeadPage:
    return lead_list.list_lead_rows(get_session(), ctx.site.id, ctx.settings.timezone,
                                    ctx.filters, query, ctx.settings.mql_threshold, limit)


@bp.get("/leads")
def leads() -> str:
    ctx = _context()
    query = lead_list.parse_lead_query(request.args)
    return _render("dashboard/leads.html", ctx, found=_lead_page(ctx, query), query=query,
                   lead_args=query.args(page=None), labels=lead_list.LABELS, stages=STAGES)


@bp.get("/leads.csv")
def leads_csv() -> Response:
    """Every lead the list's filters match (not only the page shown), as CSV."""
    ctx = _context()
    query = replace(lead_list.parse_lead_query(request.args), page=1)
    name = f"leads-{ctx.filters.start}-{ctx.filters.query()['to']}.csv"
    return Response(
        lead_list.leads_csv(_lead_page(ctx, query, lead_list.CSV_LIMIT)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/leads/<lead_id>")
def lead(lead_id: str) -> str:
    ctx = _context()
    session = get_session()
    found = get_lead(session, ctx.site.id, lead_id)
    summary, timeline = journeys.journey_timeline(
        session, ctx.site, found, ctx.filters.model, ctx.settings.mql_threshold
    )
    return _render("dashboard/lead.html", ctx, lead=summary, timeline=timeline,
                   labels=journeys.CONVERSION_LABELS)


@bp.get("/setup/snippet")
def snippet() -> str:
    ctx = _context()
    tag = script_tag(request.host_url, ctx.site.write_key, ctx.settings)
    return _render("dashboard/snippet.html", ctx, tag=tag,
                   last=setup.last_event(get_session(), ctx.site.id))


@bp.get("/setup/snippet/status.json")
def snippet_status() -> Response:
    ctx = _context()
    last = setup.last_event(get_session(), ctx.site.id)
    if last is not None:
        last["received_display"] = site_formatter(ctx)(last["received_at"], "datetime").text
    return jsonify(last_event=last)


@bp.route("/setup/keys", methods=["GET", "POST"])
def api_keys() -> str:
    ctx = _context()
    created = None
    if request.method == "POST":
        with write_session() as session:
            created = create_api_key(
                session, ctx.site, name=request.form.get("name", "")
            ).plain
    keys = list_api_keys(get_session(), ctx.site)
    return _render("dashboard/keys.html", ctx, keys=keys, created=created, now=utcnow())


@bp.post("/setup/keys/<key_id>/revoke")
def revoke_key(key_id: str) -> BaseResponse:
    ctx = _context()
    with write_session() as session:
        revoke_api_key(session, ctx.site, key_id)
    flash(f"Key {key_id} revoked.")
    return redirect(url_for("dashboard.api_keys", **ctx.filters.query()))


def _costs_page(ctx: PageContext, **values: Any) -> str:
    accounts = setup.spend_accounts(get_session(), ctx.site.id, ctx.settings, utcnow())
    values.setdefault("connect_error", None)
    values.setdefault("connect_form", {})
    return _render("dashboard/costs.html", ctx, accounts=accounts,
                   spend_days=setup.SPEND_STATUS_DAYS, paused=ad_accounts.is_paused,
                   account_platforms=setup.ACCOUNT_PLATFORMS,
                   credential_fields=setup.ACCOUNT_CREDENTIAL_FIELDS,
                   mapping_fields=setup.MAPPING_FIELDS, mapping_choices=setup.MAPPING_CHOICES,
                   default_mappings=setup.default_mappings(),
                   oauth_apps=spend_oauth.configured_platforms(_operator_settings()),
                   oauth_redirect_uri=_oauth_redirect_uri(), **values)


@bp.route("/setup/costs", methods=["GET", "POST"])
@limit_body(MAX_UPLOAD_BYTES, upload_field="file")
def cost_upload() -> tuple[str, int]:
    ctx = _context()
    if request.method == "GET":
        return _costs_page(ctx, problems=None, imported=None), 200
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _costs_page(ctx, imported=None,
                           problems=[setup.UploadProblem("—", "file", "choose a CSV file")]), 200
    text = read_upload(upload, MAX_UPLOAD_BYTES, "file").decode("utf-8-sig", errors="replace")
    try:
        with write_session() as session:
            imported = setup.upload_costs(session, ctx.site.id, ctx.settings.currency, text,
                                          upload.filename, utcnow())
    except CostImportError as error:
        # 200: the page rendered fine and lists the file's problems (a 4xx document would
        # be logged by the browser as a failed load).
        return _costs_page(ctx, imported=None, problems=setup.describe_problems(error)), 200
    return _costs_page(ctx, problems=None, imported=imported), 200


@bp.post("/setup/spend/<account_id>/pull")
def pull_spend(account_id: str) -> BaseResponse:
    """Queue the account for the worker's next pass; the pull never runs in this request."""
    ctx = _context()
    with write_session() as session:
        name = setup.queue_spend_pull(session, ctx.site.id, account_id, utcnow())
    flash(f"{name} will be pulled by the worker in a moment.")
    return redirect(url_for("dashboard.cost_upload", **ctx.filters.query()))


@bp.post("/setup/spend")
def connect_spend() -> tuple[str, int] | BaseResponse:
    """Connect an ad account from the form; the worker makes its first pull."""
    ctx = _context()
    form = {key: value for key, value in request.form.items() if key != "csrf_token"}
    try:
        with write_session() as session:
            account = setup.connect_from_form(session, ctx.site, ctx.settings, form, utcnow())
            name = f"{account.platform}:{account.account_id}"
    except ValidationError as error:
        kept = {k: v for k, v in form.items() if k in setup.CONNECT_FORM_KEPT}
        return _costs_page(ctx, problems=None, imported=None, connect_error=error,
                           connect_form=kept), 200
    flash(f"{name} connected; the worker pulls its spend in a moment.")
    return redirect(url_for("dashboard.cost_upload", **ctx.filters.query()))


def _operator_settings() -> Settings:
    settings: Settings = current_app.config["LEADTRAIL_SETTINGS"]
    return settings


def _oauth_redirect_uri() -> str:
    """The one callback every platform's OAuth app registers (docs/spend.md)."""
    return url_for("dashboard.spend_oauth_callback", _external=True)


@bp.post("/setup/spend/oauth/<platform>")
def spend_oauth_start(platform: str) -> tuple[str, int] | BaseResponse:
    """"Connect with …": check the form, then send the browser to the platform's consent."""
    ctx = _context()
    form = {key: value for key, value in request.form.items() if key != "csrf_token"}
    try:
        app = spend_oauth.app_or_refuse(_operator_settings(), platform)
        target = spend_oauth.start_consent(
            app, str(current_app.secret_key), ctx.site, ctx.settings, current_user().id, form,
            _oauth_redirect_uri(), utcnow())
    except ValidationError as error:
        kept = {k: v for k, v in form.items() if k in setup.CONNECT_FORM_KEPT}
        return _costs_page(ctx, problems=None, imported=None, connect_error=error,
                           connect_form={**kept, "platform": platform}), 200
    return redirect(target, code=303)


@bp.get("/setup/spend/oauth/callback")
def spend_oauth_callback() -> BaseResponse:
    """Where the platform sends the browser back: the state checked, the code traded, the
    account connected; a flash says what happened, and any refusal stores nothing."""
    user = current_user()
    secret_key = str(current_app.secret_key)
    try:
        pending = spend_oauth.take_pending(secret_key, request.args.get("state"), user.id)
    except spend_oauth.ConsentRefused as refused:
        flash(f"Not connected: {refused.message}. Nothing was stored.")
        return redirect(url_for("dashboard.cost_upload"))
    filters = replace(parse_filters({}, utcnow().date()), site_id=pending.site_id)
    ctx = page_context(get_session(), user, filters)  # the user must still see the site
    back = url_for("dashboard.cost_upload", **ctx.filters.query())
    refusal = spend_oauth.platform_refusal(pending.platform, request.args)
    try:
        if refusal is not None:
            raise spend_oauth.ConsentRefused(refusal)
        app = spend_oauth.app_or_refuse(_operator_settings(), pending.platform)
        with write_session() as session:
            account = spend_oauth.finish_consent(
                session, app, secret_key, ctx.site, pending, request.args["code"],
                _oauth_redirect_uri(), utcnow())
            name = f"{account.platform}:{account.account_id}"
    except (spend_oauth.ConsentRefused, ValidationError) as refused:
        flash(f"Not connected: {refused.message}. Nothing was stored.")
        return redirect(back)
    flash(f"{name} connected; the worker pulls its spend in a moment. Its refresh token is "
          "stored and never shown again.")
    return redirect(back)


@bp.post("/setup/spend/<account_id>/paused")
def pause_spend(account_id: str) -> BaseResponse:
    ctx = _context()
    paused = request.form.get("paused") == "1"
    with write_session() as session:
        name = setup.pause_account(session, ctx.site.id, account_id, paused, utcnow())
    flash(f"{name} paused; its spend so far stays." if paused
          else f"{name} resumed; the worker pulls the days missed.")
    return redirect(url_for("dashboard.cost_upload", **ctx.filters.query()))


@bp.post("/setup/spend/<account_id>/disconnect")
def disconnect_spend(account_id: str) -> BaseResponse:
    ctx = _context()
    with write_session() as session:
        name = setup.disconnect_account(session, ctx.site.id, account_id)
    flash(f"{name} disconnected; its credentials are deleted, the spend already pulled stays.")
    return redirect(url_for("dashboard.cost_upload", **ctx.filters.query()))


@bp.get("/setup/crm")
def crm() -> str:
    ctx = _context()
    session = get_session()
    return _render(
        "dashboard/crm.html",
        ctx,
        connections=setup.crm_connections(ctx.site, ctx.settings, request.host_url),
        deliveries=setup.provider_deliveries(session, ctx.site.id),
        no_deliveries=setup.NO_DELIVERIES,
        failed=setup.recent_crm_events(session, ctx.site.id, status="failed"),
        recent=setup.recent_crm_events(session, ctx.site.id),
    )


@bp.post("/setup/crm/events/<event_id>/replay")
def replay(event_id: str) -> BaseResponse:
    ctx = _context()
    outcome = setup.replay_crm_event(get_engine(), ctx.site.id, event_id)
    flash(f"Event replayed: {outcome}.")
    return redirect(url_for("dashboard.crm", **ctx.filters.query()))


def _destinations_page(ctx: PageContext, **values: Any) -> str:
    values.setdefault("error", None)
    values.setdefault("form", {})
    values.setdefault("verdict", None)
    rows = destination_page.destination_rows(get_session(), ctx.site.id,
                                             ctx.settings.timezone, utcnow())
    return _render("dashboard/destinations.html", ctx, rows=rows,
                   daily_chart=destination_page.daily_chart(rows, site_formatter(ctx)),
                   daily_days=destination_page.DEFAULT_DAYS,
                   lendable=destination_page.lendable_accounts(get_session(), ctx.site.id),
                   platforms=destination_page.PLATFORM_LABELS,
                   milestones=destination_page.MILESTONES,
                   setting_fields=destination_page.SETTING_FIELDS,
                   credential_fields=destination_page.CREDENTIAL_FIELDS,
                   statuses=destination_page.STATUSES, **values)


@bp.route("/setup/destinations", methods=["GET", "POST"])
def destinations() -> tuple[str, int] | BaseResponse:
    ctx = _context()
    if request.method == "GET":
        return _destinations_page(ctx), 200
    form = {key: value for key, value in request.form.items() if key != "csrf_token"}
    try:
        with write_session() as session:
            added = destination_page.add_from_form(session, ctx.site.id, form)
            name = added.name
    except ValidationError as error:
        # 200 with the form kept and the field named (like the cost upload's errors).
        return _destinations_page(ctx, error=error, form=form), 200
    flash(f"Destination {name} saved; it sends from the next stage or deal change.")
    return redirect(url_for("dashboard.destinations", **ctx.filters.query()))


@bp.post("/setup/destinations/<destination_id>/enabled")
def destination_enabled(destination_id: str) -> BaseResponse:
    """Pause or resume: a paused destination keeps its queue and sends it when resumed."""
    ctx = _context()
    enabled = request.form.get("enabled") == "1"
    with write_session() as session:
        found = destination_page.find_by_id(session, ctx.site.id, destination_id)
        name = destination_service.set_enabled(session, ctx.site.id, str(found.id),
                                               enabled).name
    flash(f"{name} {'resumed' if enabled else 'paused; its queue is kept'}.")
    return redirect(url_for("dashboard.destinations", **ctx.filters.query()))


@bp.post("/setup/destinations/<destination_id>/test")
def destination_test(destination_id: str) -> tuple[str, int]:
    """One sample conversion in the platform's validation mode; nothing is recorded there."""
    ctx = _context()
    session = get_session()
    found = destination_page.find_by_id(session, ctx.site.id, destination_id)
    try:
        outcomes = destination_check.validate_destination(get_engine(), session, found)
    except ValidationError as error:
        refused = [f"{error.field}: {error.message}"]
        return _destinations_page(ctx, verdict=(found.name, False, refused)), 200
    accepted = all(o.status == "sent" for o in outcomes.values())
    messages = [o.error for o in outcomes.values() if o.error]
    return _destinations_page(ctx, verdict=(found.name, accepted, messages)), 200


@bp.post("/setup/destinations/<destination_id>/replay")
def destination_replay(destination_id: str) -> BaseResponse:
    ctx = _context()
    with write_session() as session:
        found = destination_page.find_by_id(session, ctx.site.id, destination_id)
        count = destination_sender.replay(session, ctx.site.id, found.id)
    flash(f"{count} dead conversions of {found.name} queued again.")
    return redirect(url_for("dashboard.destinations", **ctx.filters.query()))
