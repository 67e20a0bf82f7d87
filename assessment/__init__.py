"""ITSCM maturity assessment engine: questionnaires, scoring, storage, Excel and access control."""

__version__ = "0.1.0"
