"""Errors a user can act on. The CLI prints their message as one line."""


class TopProductsError(Exception):
    """Base class: the message says what went wrong and, where possible, what to do."""


class ConfigError(TopProductsError):
    """A setting or argument is invalid."""


class StackError(TopProductsError):
    """A local service could not be installed, started or reached."""
