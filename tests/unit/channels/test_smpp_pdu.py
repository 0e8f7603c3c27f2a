"""The SMPP adapter reads delivery receipts straight from the bytes: the same fields smpplib
parses from the same PDU, and nothing but receipts (inbound messages go through smpplib)."""

from __future__ import annotations

import smpplib.consts as c
import smpplib.smpp

from arrears.channels.smpp import parse_receipt_pdu


class FakeClient:
    sequence = 6

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def deliver_sm(**fields: object) -> bytes:
    base: dict[str, object] = dict(
        source_addr_ton=c.SMPP_TON_INTL,
        source_addr="8613800000001",
        destination_addr="106900001234",
        data_coding=0,
    )
    return bytes(
        smpplib.smpp.make_pdu("deliver_sm", client=FakeClient(), **{**base, **fields}).generate()
    )


TEXT = (
    b"id:m00000042 sub:001 dlvrd:001 submit date:2603020900 done date:2603020901 "
    b"stat:DELIVRD err:000 text:"
)


def test_receipt_fields_match_smpplib() -> None:
    raw = deliver_sm(
        esm_class=0x04,
        short_message=TEXT,
        receipted_message_id="m00000042",
        message_state=2,
    )
    parsed = smpplib.smpp.parse_pdu(raw, client=FakeClient(), allow_unknown_opt_params=True)
    assert parse_receipt_pdu(raw) == (
        parsed.short_message,
        parsed.receipted_message_id,
        parsed.message_state,
    )
    assert parse_receipt_pdu(raw) == (TEXT, b"m00000042", 2)


def test_receipt_without_tlvs() -> None:
    assert parse_receipt_pdu(deliver_sm(esm_class=0x04, short_message=TEXT)) == (TEXT, None, None)


def test_inbound_message_is_left_to_smpplib() -> None:
    assert (
        parse_receipt_pdu(deliver_sm(esm_class=0, short_message="退订".encode("utf-16-be"))) is None
    )
