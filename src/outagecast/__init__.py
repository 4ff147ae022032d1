"""OutageCast: predict how long a cloud outage will last, and run that model in production."""

__version__ = "0.1.0"
