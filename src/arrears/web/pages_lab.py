"""The strategist's page of the strategy lab's optimiser: its last report's Pareto front, a
table and a chart with the 95% intervals over the simulated runs, and the chosen strategy
against the seed. The report is the JSON `arrears lab optimise` writes, read by a service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from arrears.api.context import context_of
from arrears.services.lab_reports import LabReportInvalid, OptimiserReport, optimiser_report
from arrears.services.users import Permission
from arrears.web.charts import scatter_intervals
from arrears.web.i18n import word
from arrears.web.render import render
from arrears.web.session import ViewerDep

router = APIRouter(include_in_schema=False)


def _chart(report: OptimiserReport, lang: str) -> str:
    points = [
        (
            str(i),
            (s.contacts_per_case.mean, s.contacts_per_case.low, s.contacts_per_case.high),
            (s.net_per_case.mean, s.net_per_case.low, s.net_per_case.high),
            1 if s.chosen else (2 if s.seed else 0),
        )
        for i, s in enumerate(report.front, start=1)
    ]
    return scatter_intervals(
        word(lang, "lab.chart_title"),
        points,
        x_label=word(lang, "lab.contacts_per_case"),
        y_label=word(lang, "lab.net_per_case"),
    )


@router.get("/lab/optimiser", response_class=HTMLResponse)
def optimiser_page(request: Request, viewer: ViewerDep) -> Response:
    if not viewer.can(Permission.APPROVE_STRATEGIES):  # the strategist and the manager
        viewer.require(Permission.DEPLOY_STRATEGIES)
    ctx = context_of(request)
    error = ""
    try:
        report = optimiser_report(ctx.app.settings.lab_report)
    except LabReportInvalid:
        report, error = None, "lab.report_unreadable"
    return render(
        request,
        "lab_optimiser.html",
        viewer.lang,
        viewer=viewer,
        report=report,
        report_error=error,
        chart=_chart(report, viewer.lang) if report and report.front else "",
    )
