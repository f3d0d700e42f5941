"""Ways out of the provider: SMS gateways and letter (post) gateways, chosen in config."""
