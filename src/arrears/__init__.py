"""arrears — a collections platform for consumer lenders."""

__version__ = "0.1.0"
