"""The organisation a party of a convention or a member of a network names, how it is found on
the map (SIRET, then FINESS, then name), and a connector input read by default when the
diagram does not declare it: without a database."""

from __future__ import annotations

from partnerflow.engine.method import registry
from partnerflow.engine.runtime import connectors
from partnerflow.engine.store.models import Organisation


def test_a_party_and_a_network_member_name_their_organisation():
    party = registry.party_organisation({
        "legal_name": " Centre  hospitalier de Montreuil ", "siret": "269 300 011 00012",
        "finess": "930110051", "address": "2 rue de l'Hôpital", "legal_representative": "Paul Lefèvre",
        "representative_quality": "Directeur adjoint", "mandate": "Délégation."})
    assert party == {"name": "Centre hospitalier de Montreuil", "kind": "other",
                     "siret": "26930001100012", "finess": "930110051",
                     "address": "2 rue de l'Hôpital", "contacts": "Paul Lefèvre, Directeur adjoint"}
    member = registry.party_organisation({"organisation_name": "CLIC de Montreuil",
                                          "contact_name": "Mme Leroy",
                                          "contact_email": "leroy@clic.example"})
    assert (member["name"], member["siret"], member["contacts"]) == (
        "CLIC de Montreuil", None, "Mme Leroy, leroy@clic.example")
    # a wrong identifier is left out, the name still names it; no name: nothing
    assert registry.party_organisation({"legal_name": "Mairie", "siret": "123"})["siret"] is None
    assert registry.party_organisation({"siret": "26930001100012"}) is None
    assert registry.party_organisation("Mairie") is None


def test_an_organisation_is_found_by_siret_then_finess_then_folded_name():
    hospital = Organisation(id=1, name="CH de Montreuil", siret="26930001100012", finess=None)
    clinic = Organisation(id=2, name="Clinique des Lilas", siret=None, finess="930110051")
    town = Organisation(id=3, name="Mairie de Bagnolet", siret=None, finess=None)
    index = registry.OrganisationIndex([hospital, clinic, town])
    assert index.match({"name": "Autre nom", "siret": "26930001100012",
                        "finess": "930110051"}) is hospital
    assert index.match({"name": "Autre nom", "siret": "99999999999999",
                        "finess": "930110051"}) is clinic
    assert index.match({"name": "mairie  de BAGNOLET", "siret": None}) is town
    assert index.match({"name": "Lycée"}) is None and index.match({}) is None
    assert registry.OrganisationIndex.matched_by(clinic, {"finess": "930110051"}) == "finess"
    assert registry.OrganisationIndex.matched_by(town, {"name": "Mairie de Bagnolet"}) == "name"


class _Context:
    def fail(self, message):
        return connectors.ConnectorError(message)


def test_an_implicit_input_reads_its_default_only_when_the_task_does_not_declare_it():
    found = connectors.Connector("t", "T", "", lambda c, v: None, inputs=(
        connectors.Input("rows", "Lignes", "any", default="${partner_parties}", implicit=True),
        connectors.Input("level", "Niveau", "string", default="${formalisation_level}")))
    data = {"partner_parties": [{"legal_name": "CH"}], "formalisation_level": "L2", "other": [1]}
    # undeclared: the implicit input reads its default, the other one stays empty
    assert connectors.resolve_inputs(found, {}, data, _Context()) == {
        "rows": [{"legal_name": "CH"}], "level": None}
    # declared: what the task says, even empty
    assert connectors.resolve_inputs(found, {"rows": "${other}"}, data, _Context())["rows"] == [1]
    assert connectors.resolve_inputs(found, {"rows": None}, data, _Context())["rows"] is None
