"""SMS text rules: coding, segment counts, concatenation parts, signature, opt-out words."""

from __future__ import annotations

from itertools import pairwise

import smpplib.consts as c
import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from arrears.channels.smpp import encode_submit_sm
from arrears.channels.sms_text import (
    DataCoding,
    coding_of,
    decode,
    decorate,
    encode,
    is_opt_out,
    parts_for,
    segment_count,
    split,
)


def test_chinese_is_ucs2_70_single_67_per_part():
    assert coding_of("您好") is DataCoding.UCS2
    assert segment_count("好" * 70) == 1
    assert segment_count("好" * 71) == 2
    assert segment_count("好" * 134) == 2
    assert segment_count("好" * 135) == 3


def test_latin_is_gsm7_160_single_153_per_part_extension_counts_double():
    assert coding_of("Hello @ £ é") is DataCoding.GSM7
    assert segment_count("a" * 160) == 1 and segment_count("a" * 161) == 2
    assert segment_count("a" * 306) == 2 and segment_count("a" * 307) == 3
    assert segment_count("{" * 80) == 1 and segment_count("{" * 81) == 2  # 2 septets each
    assert coding_of("Hello 【x】") is DataCoding.UCS2


def test_parts_never_split_an_escape_or_surrogate_pair():
    _, parts = split("a" * 152 + "€" + "b" * 10)
    assert parts[0] == "a" * 152 and parts[1].startswith("€")
    _, parts = split("好" * 66 + "😀" + "好" * 10)
    assert parts[0] == "好" * 66 and parts[1].startswith("😀")


def _size(text: str, coding: DataCoding) -> int:
    if coding is DataCoding.UCS2:
        return len(text.encode("utf-16-be")) // 2
    return len(encode(text, coding))


@given(st.text(alphabet=st.sampled_from("ab €{好😀【】"), max_size=500))
def test_parts_rejoin_to_the_text_each_within_its_budget_and_as_full_as_it_can_be(text: str):
    coding, parts = split(text)
    assert "".join(parts) == text
    single, part = (160, 153) if coding is DataCoding.GSM7 else (70, 67)
    if len(parts) == 1:
        assert _size(text, coding) <= single
        return
    assert _size(text, coding) > single
    for chunk, after in pairwise(parts):
        assert _size(chunk, coding) <= part
        # the next character would not have fitted: no part is cut short
        assert _size(chunk + after[0], coding) > part
    assert 0 < _size(parts[-1], coding) <= part


def test_concatenated_parts_carry_udh_and_round_trip():
    text = "您好，" * 40
    parts = parts_for(text, reference=7)
    assert len(parts) == segment_count(text) == 2
    assert [p.payload[:6] for p in parts] == [
        b"\x05\x00\x03\x07\x02\x01",
        b"\x05\x00\x03\x07\x02\x02",
    ]
    assert {p.esm_class for p in parts} == {0x40}
    assert "".join(decode(p.payload[6:], 8) for p in parts) == text
    assert decode(encode("a{b}€", DataCoding.GSM7), 0) == "a{b}€"


def test_signature_and_opt_out_are_added_by_the_channel():
    assert (
        decorate("您好。", "示例消费金融", "拒收请回复TD") == "【示例消费金融】您好。拒收请回复TD"
    )
    assert decorate("Hi.", "Example", "Reply STOP to opt out", "en") == (
        "Example: Hi. Reply STOP to opt out"
    )


def test_opt_out_words():
    for word in ("TD", "td", " 退订 ", "STOP", "退订。", "Stop!"):
        assert is_opt_out(word), word
    for word in ("好的", "I will pay tomorrow", "TDX", "stopping by"):
        assert not is_opt_out(word), word


def test_fast_submit_sm_is_byte_identical_to_smpplib():
    class FakeClient:
        sequence = 41

        def next_sequence(self):
            self.sequence += 1
            return self.sequence

    fields = dict(
        source_addr_ton=c.SMPP_TON_UNK,
        source_addr_npi=c.SMPP_NPI_UNK,
        source_addr="106900001234",
        dest_addr_ton=c.SMPP_TON_INTL,
        dest_addr_npi=c.SMPP_NPI_ISDN,
        destination_addr="8613800000001",
        short_message=b"\x05\x00\x03\x01\x02\x01" + "您好".encode("utf-16-be"),
        data_coding=8,
        esm_class=0x40,
        registered_delivery=1,
    )
    reference = smpplib.smpp.make_pdu("submit_sm", client=FakeClient(), **fields).generate()
    ours = encode_submit_sm(
        42,
        source_addr=fields["source_addr"],
        source_addr_ton=fields["source_addr_ton"],
        destination_addr=fields["destination_addr"],
        short_message=fields["short_message"],
        data_coding=8,
        esm_class=0x40,
        registered_delivery=1,
    )
    assert ours == reference
