"""Telephony: the dialler port, its adapters (baresip softphone, cloud call centre webhooks) and
the store of call recordings. See docs/dialler.md."""
