# Two commands do all set-up on a fresh machine (Python 3.11+, make, a C compiler):
#   make run   provider + demo data + demo relying party on SQLite
#   make test  the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RP_PORT ?= 5001

.PHONY: run test lint translations clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d idp/translations >/dev/null

run: $(STAMP) translations
	# localhost, not 127.0.0.1: WebAuthn takes no IP address as relying party ID, and http is a
	# secure context only on localhost, so passkeys work in the demo.
	IDP_SERVER_ISSUER=$${IDP_SERVER_ISSUER:-http://localhost:5000} IDP_WEBAUTHN_PASSWORDLESS=true \
	IDP_SERVER_SECURE_COOKIES=false IDP_CITIZENS_ALLOW_SYNTHETIC_PIDS=true IDP_FETCH_ALLOW_NETWORKS=127.0.0.0/8,::1/128 \
	IDP_BRANDING_NAME=Demo-ID IDP_BRANDING_SUPPORT_EMAIL=brukerstotte@id.example \
	IDP_BRANDING_SUPPORT_PHONE="+47 800 00 000" IDP_BRANDING_SUPPORT_HOURS="08:00–15:30" \
		$(BIN)/python -m demo_rp.run --rp-port $(RP_PORT)

test: $(STAMP) translations
	./tests/setup-browser.sh
	# Three processes, a test file each at a time: most of a test's time is spent waiting on the
	# servers and idp commands it starts, so two cores serve three (18.9 min serially).
	$(BIN)/pytest -q -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var keys/*.pem keys/*.json
