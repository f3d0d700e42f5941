"""Every hosted form, posted with a valid CSRF token and a live login transaction.

The forms are found in the app: every POST route that is not CSRF-exempt,
and every field of every ``FlaskForm`` the app defines. With the token and a
transaction in hand, the fuzz gets past CSRF into each page's real
validation: the password check, the chain, the profile's enrolments.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_wtf import FlaskForm
from hypothesis import given
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

from idp.extensions import csrf
from tests.fuzz import strategies as fz
from tests.fuzz.http import Call, fuzz_each, send
from tests.fuzz.settings import FUZZ


def hosted_forms(app) -> list:
    """POST routes that check a CSRF token: the pages' own forms (relying parties' endpoints are exempt)."""
    forms = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "POST" in rule.methods and f"{view.__module__}.{view.__name__}" not in csrf._exempt_views:
            forms.append(rule)
    return sorted(forms, key=lambda rule: rule.rule)


def form_fields() -> list[str]:
    """Every field of every form class the app defines (imported by now: the app is built)."""
    names, pending = set(), [FlaskForm]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        names.update(name for klass in cls.__mro__ for name, v in vars(klass).items() if isinstance(v, UnboundField))
    return sorted(names | {"tx", "grant"})


def posts(world, rule, fields: list[str]) -> st.SearchStrategy[Call]:
    """Every field filled in plausibly (a form ignores fields it lacks), then a few made hostile."""

    @st.composite
    def build(draw):
        form = {name: draw(world.plausible(name)) for name in fields}
        form["csrf_token"] = fz.Fresh("csrf")
        form["tx"] = draw(st.sampled_from([fz.Fresh("step_tx"), fz.Fresh("choice_tx"), fz.Fresh("tx")]))
        for name in draw(st.lists(st.sampled_from(["csrf_token", *fields]), max_size=3, unique=True)):
            form[name] = draw(fz.mixed(world.plausible(name)))
        # The activation pages carry their grant in the query; the login pages read tx from either.
        query = [("grant", draw(fz.mixed(st.just(fz.Fresh("grant")))))]
        if draw(st.booleans()):
            query.append(("tx", draw(fz.mixed(world.plausible("tx")))))
        return Call("POST", rule.rule, query=query, form=list(form.items()))

    return build()


def fuzz_form(world, rule, fields: list[str]) -> Callable[[], None]:
    # Min profil's forms are posted by a signed-in citizen; the login forms by a browser in a login.
    browser = world.profile if rule.endpoint.startswith("profile.") else world.forms

    @FUZZ
    @given(call=posts(world, rule, fields))
    def run(call: Call) -> None:
        send(world, browser, call)

    return run


def test_every_hosted_form_survives_hostile_input(app, world):
    forms = hosted_forms(app)
    fields = form_fields()
    assert {"login.submit_password", "login.verify", "profile.phone", "logout.confirm"} <= {
        rule.endpoint for rule in forms
    }
    assert {"pid", "password", "code", "phone", "factor"} <= set(fields)
    try:
        fuzz_each({rule.rule: fuzz_form(world, rule, fields) for rule in forms})
    finally:
        print(world.summary())
