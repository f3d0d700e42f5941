"""The rules: levels of assurance and what a request requires. The policy decides."""
