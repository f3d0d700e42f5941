"""The WSGI entry point for gunicorn: ``gunicorn idp.wsgi:app``."""

from idp.app import create_app

app = create_app()
