"""Notices: letters the provider sends on its own initiative (a second factor phased out), each one once."""
