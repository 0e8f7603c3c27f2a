"""Base of every domain error: each carries a message a user can act on."""


class DomainError(ValueError):
    """A rule of the domain was broken; the message says what and how to fix it."""
