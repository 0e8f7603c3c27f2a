"""The SIP peers (sipp phones, baresip dialler) for the telephony tests."""

from tests.telephony_fixtures import sip_exchange

__all__ = ["sip_exchange"]
