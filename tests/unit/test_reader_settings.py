"""What the reader is shown, read from the environment: the time zone and the accessibility
contact; an unknown time zone stops the start with its name."""

from __future__ import annotations

import pytest

from partnerflow.engine.config import Settings
from partnerflow.engine.errors import PartnerflowError


def test_times_are_shown_in_paris_unless_another_zone_is_configured():
    assert Settings.from_env({}).timezone == "Europe/Paris"
    assert Settings.from_env({"PARTNERFLOW_TIMEZONE": "America/Cayenne"}).timezone == "America/Cayenne"


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(PartnerflowError, match="PARTNERFLOW_TIMEZONE: unknown time zone 'Europe/Pariss'"):
        Settings.from_env({"PARTNERFLOW_TIMEZONE": "Europe/Pariss"})


def test_the_accessibility_contact_comes_from_the_environment():
    assert Settings.from_env({}).accessibility_contact is None
    contact = Settings.from_env({"PARTNERFLOW_ACCESSIBILITY_CONTACT": " accessibilite@tilleuls.fr "})
    assert contact.accessibility_contact == "accessibilite@tilleuls.fr"
