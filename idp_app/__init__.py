"""``idp-app``: the reference app for the provider's app factor, a real client of ``/app/v1`` with real keys."""
