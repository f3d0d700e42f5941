"""Hosted pages: the login steps and the citizen's own pages. They render and collect; they hold no rules."""
