"""Attacks as an outside partner, a delegate, a designer or an anonymous visitor would run
them: the web application on the fixture engine (CSRF on) and a world of users of every role."""

from __future__ import annotations

from tests.web.conftest import _fast_passwords, app, as_user, client, world  # noqa: F401
