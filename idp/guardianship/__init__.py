"""Guardianship: mandates by which a guardian (verge) acts for a ward (vergehaver)."""
