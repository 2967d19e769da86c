"""launchgate: a release pipeline for GenAI services (core library, no Prefect imports)."""

__version__ = "0.1.0"
