"""The dialler the settings name (`ARREARS_DIALER`): baresip, webhook or none."""

from __future__ import annotations

from arrears.channels.telephony.baresip import BaresipConfig, BaresipDialer, SipRoutes
from arrears.channels.telephony.port import (
    CallHandle,
    CallRequest,
    CallResult,
    CallUnknown,
    Dialer,
    DialerUnavailable,
    OnCallEnd,
)
from arrears.channels.telephony.recordings import RecordingStore
from arrears.channels.telephony.webhook import WebhookDialer
from arrears.config import Settings


class DialerConfigInvalid(ValueError):
    pass


class NoDialer:
    """No dialler configured: every call refuses with a message saying how to set one up."""

    name = "none"

    def dial(self, request: CallRequest, on_end: OnCallEnd | None = None) -> CallHandle:
        raise DialerUnavailable(
            "no dialler is configured; set ARREARS_DIALER to baresip or webhook (docs/dialler.md)"
        )

    def hangup(self, call_id: str) -> None:
        raise CallUnknown(call_id)

    def result(self, call_id: str) -> CallResult | None:
        raise CallUnknown(call_id)

    def wait(self, call_id: str, timeout: float | None = None) -> CallResult | None:
        raise CallUnknown(call_id)

    def close(self) -> None:
        return None


def make_dialer(settings: Settings, recordings: RecordingStore) -> Dialer:
    kind = settings.dialer
    if kind == "baresip":
        return BaresipDialer(
            SipRoutes.parse(settings.sip_routes),
            recordings,
            BaresipConfig(binary=settings.baresip_binary),
        )
    if kind == "webhook":
        if not settings.dialer_webhook_url or not settings.dialer_webhook_secret:
            raise DialerConfigInvalid(
                "the webhook dialler needs ARREARS_DIALER_WEBHOOK_URL and "
                "ARREARS_DIALER_WEBHOOK_SECRET"
            )
        return WebhookDialer(
            settings.dialer_webhook_url,
            settings.dialer_webhook_secret.encode(),
            callback_url=settings.dialer_webhook_url.rstrip("/") + "/callback",
            recordings=recordings,
        )
    if kind == "none":
        return NoDialer()
    raise DialerConfigInvalid(f"unknown dialler {kind!r}; use baresip, webhook or none")
