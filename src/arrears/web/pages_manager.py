"""The manager's portfolio view and the compliance officer's review, as charts and tables."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from arrears.api.context import context_of
from arrears.services import dashboards as dash
from arrears.services import recoveries as rec
from arrears.services.users import Permission
from arrears.web import audit, charts
from arrears.web.i18n import code, rule_name, word
from arrears.web.render import render
from arrears.web.session import ViewerDep

router = APIRouter(include_in_schema=False)


@router.get("/manager", response_class=HTMLResponse)
def manager(request: Request, viewer: ViewerDep) -> Response:
    viewer.require(Permission.VIEW_PORTFOLIO)
    ctx = context_of(request)
    lang = viewer.lang
    with ctx.begin() as conn:
        today = ctx.today(conn)
        dates, by_bucket = dash.buckets_over_time(conn, today)
        rolls = dash.roll_rates(conn, today)
        variants = dash.variant_results(conn, today)
        recovery = dash.recovery_by_week(conn, today)
        cohorts = dash.cure_by_cohort(conn, today)
        recovered = rec.totals(rec.recoveries(conn, today - timedelta(days=29), today))
    labels = [d.strftime("%m-%d") for d in dates]
    # one chart per currency: amounts of different currencies are never drawn on one scale
    svg = {
        "by_bucket": "".join(
            charts.stacked_bars(
                f"{word(lang, 'by_bucket')} ({currency})",
                labels,
                {bucket: [float(v) for v in values] for bucket, values in series.items()},
            )
            for currency, series in by_bucket.items()
        )
        or charts.stacked_bars(word(lang, "by_bucket"), labels, {}),
        "roll_rates": charts.hbars(
            word(lang, "roll_rates"), [(f"{r.bucket} →", r.roll_rate) for r in rolls], scale=1.0
        ),
        "cure_rates": charts.hbars(
            word(lang, "cure_rates"),
            [(label, cured / n if n else 0.0) for label, n, cured in cohorts],
            scale=1.0,
        ),
        "recovery": "".join(
            charts.lines(
                f"{word(lang, 'recovery')} ({currency})",
                [d.strftime("%m-%d") for d, _ in weeks],
                {word(lang, "recovery"): [float(m.amount) for _, m in weeks]},
            )
            for currency, weeks in recovery.items()
        )
        or charts.lines(word(lang, "recovery"), [], {}),
        "variants": charts.hbars(
            word(lang, "variants"),
            [(_variant_label(lang, v, variants), v.cure_rate) for v in variants],
            scale=1.0,
        ),
    }
    return render(
        request,
        "manager.html",
        lang,
        viewer=viewer,
        today=today,
        svg=svg,
        rolls=rolls,
        variants=variants,
        cohorts=cohorts,
        recovered=recovered,
    )


def _variant_label(lang: str, v: dash.VariantResult, every: list[dash.VariantResult]) -> str:
    """The variant in words; with more than one strategy, the strategy's name first."""
    variant = code(lang, "variant", v.variant)
    if len({x.currency for x in every}) > 1:
        variant = f"{variant} ({v.currency})"
    if len({x.strategy for x in every}) == 1:
        return variant
    return f"{code(lang, 'strategy', v.strategy)} / {variant}"


@router.get("/compliance", response_class=HTMLResponse)
def compliance(request: Request, viewer: ViewerDep) -> Response:
    viewer.require(Permission.VIEW_COMPLIANCE)
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        blocked = dash.blocked_actions(conn, today)
        by_rule = dash.blocked_by_rule(conn, today)
        overrides = dash.overridden_actions(conn)
        reveals = audit.recent(conn, audit.REVEAL)
        templates = [tpl for tpl in dash.template_approvals(conn) if tpl.version > 0]
    svg = charts.hbars(
        word(viewer.lang, "blocked_actions"),
        [(rule_name(viewer.lang, r), float(n)) for r, n in by_rule],
        fmt="{:.0f}",
    )
    return render(
        request,
        "compliance.html",
        viewer.lang,
        viewer=viewer,
        today=today,
        blocked=blocked,
        by_rule=by_rule,
        overrides=overrides,
        reveals=reveals,
        templates=templates,
        svg=svg,
    )
