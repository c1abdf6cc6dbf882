"""Lethe: keeps a contact centre's personal data lawful under the GDPR."""

__version__ = "0.1.0"
