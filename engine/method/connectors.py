"""The partnership method's connectors: the convention generated, signatures recorded, the
map updated, renewal decisions applied, the partnership's level and status written.

Each is registered with the host's connector registry (runtime/connectors.py) when the
method plugin loads; the diagrams of bpmn/ call them by topic, and the element templates of
bpmn/templates/partnerflow.json offer them to designers.
"""

from __future__ import annotations

from sqlalchemy import func, select

from partnerflow.engine import access, audit
from partnerflow.engine.method import committee, convention, registry
from partnerflow.engine.runtime.connectors import ConnectorContext, Input, Output, connector
from partnerflow.engine.store.models import PartnershipMember, User

LEVELS = (("L0", "L0 : réseau"), ("L1", "L1 : lettre d'intention"), ("L2", "L2 : convention"),
          ("L3", "L3 : convention délibérée"), ("L4", "L4 : convention constitutive approuvée"))
STATUSES = (("active", "En cours"), ("archived", "Archivé"), ("ended", "Terminé"))
KINDS = (("partnership", "Partenariat"), ("cooperation", "Coopération"), ("network", "Réseau"))


@connector("convention.generate", "Générer la convention",
           "Met la convention en forme (HTML et PDF dans la base documentaire) à partir des "
           "réponses du processus ; un document déposé à la place devient le document à signer.",
           inputs=(Input("uploaded_document", "Document déposé à la place (facultatif)", "sha256",
                         default="${convention_document}",
                         help="Un fichier de la convention mis en forme ailleurs."),
                   Input("form_key", "Formulaire des articles", "string", default="convention",
                         help="Le formulaire dont les intitulés présentent les réponses.")),
           outputs=(Output("document", "Variable du document à signer", "document_sha256"),))
def _generate_convention(context: ConnectorContext, values: dict) -> dict:
    uploaded = values["uploaded_document"]
    if uploaded:
        convention.adopt_upload(context.session, context.partnership.id, uploaded)
        return {"document": uploaded}
    digest = convention.generate(context.uow, partnership_id=context.partnership.id,
                                 data=context.data, actor=context.actor,
                                 form_key=values["form_key"] or "convention")
    return {"document": digest}


@connector("signature.record", "Enregistrer la signature",
           "Enregistre la signature de la personne qui vient de terminer la tâche précédente en "
           "ressaisissant son mot de passe (propriété confirm_password de cette tâche) : "
           "l'utilisateur, l'heure, l'empreinte du document et la méthode.",
           inputs=(Input("document_sha256", "Empreinte du document signé", "sha256", True,
                         default="${document_sha256}"),
                   Input("full_name", "Nom du signataire", "string", True,
                         default="${signatory_full_name}"),
                   Input("quality", "Qualité du signataire", "string", True,
                         default="${signatory_quality}"),
                   Input("consent", "Consentement", "boolean", True, default="${signature_consent}")),
           outputs=(Output("signature", "Variable de la signature", "signature"),),
           needs_identity=True)
def _record_signature(context: ConnectorContext, values: dict) -> dict:
    who = context.identity
    if who is None or who.instance_id != context.instance.id or who.username != context.actor:
        raise context.fail("aucune identité confirmée : la tâche qui précède doit redemander le mot "
                           "de passe (propriété confirm_password = true) ; reprenez le processus "
                           "depuis la tâche de signature")
    if values["consent"] is not True:
        raise context.fail("le signataire n'a pas donné son consentement")
    signature = convention.sign(context.uow, partnership_id=context.partnership.id,
                                digest=values["document_sha256"], actor=who.username,
                                full_name=values["full_name"], quality=values["quality"],
                                task_id=who.task_id, element_id=who.element_id)
    return {"signature": {"full_name": signature.full_name, "quality": signature.quality,
                          "username": signature.username, "consent": True,
                          "document_sha256": signature.document_sha256,
                          "signed_at": signature.signed_at.isoformat()}}


@connector("map.update", "Mettre à jour la carte",
           "Crée ou met à jour, sur la carte, la relation avec chaque organisation partenaire du "
           "partenariat : type, niveau de formalisation, dates de la convention, document. Quand "
           "le partenariat n'en nomme aucune, ce sont les parties partenaires de la convention "
           "ou les membres du réseau (retrouvés sur la carte par SIRET, FINESS ou nom, sinon "
           "ajoutés) ; sans aucune, l'étape s'arrête sur un incident qui dit quoi faire.",
           inputs=(Input("kind", "Type de relation", "choice", choices=KINDS),
                   Input("formalisation_level", "Niveau de formalisation", "string",
                         default="${formalisation_level}"),
                   Input("convention_start", "Début de la convention", "date", default="${start_date}"),
                   Input("convention_end", "Fin de la convention", "date", default="${end_date}"),
                   Input("renewal_date", "Date de renouvellement", "date"),
                   Input("convention_document", "Document de la convention", "sha256",
                         default="${document_sha256}"),
                   Input("partner_parties", "Parties partenaires (convention)", "any",
                         default="${partner_parties}", implicit=True,
                         help="Les parties de la convention autres que la nôtre (raison sociale, "
                              "SIRET, FINESS) : les organisations partenaires quand le "
                              "partenariat n'en nomme aucune. Lue par défaut."),
                   Input("network_members", "Membres du réseau", "any",
                         default="${network_members}", implicit=True,
                         help="Les membres d'un réseau inscrit au niveau L0 (organisation, "
                              "contact) : les organisations partenaires quand le partenariat "
                              "n'en nomme aucune. Lue par défaut.")),
           outputs=(Output("relationship_ids", "Variable des relations mises à jour",
                           "relationship_ids"),))
def _update_map(context: ConnectorContext, values: dict) -> dict:
    level = values["formalisation_level"]
    if level and level not in dict(LEVELS):
        raise context.fail(f"le niveau de formalisation « {level} » n'est pas L0 à L4")
    parties = []
    for name in ("partner_parties", "network_members"):
        rows = values[name]
        if rows is not None and not isinstance(rows, list):
            raise context.fail(f"l'entrée « {name} » doit être une liste de lignes "
                               "(par exemple ${partner_parties}), pas « " + str(rows)[:80] + " »")
        parties.extend(rows or [])
    try:
        ids = registry.record_for_partnership(
            context.uow, partnership=context.partnership, actor=context.actor,
            values={**values, "parties": parties}, element_id=context.element_id)
    except registry.MapIncomplete as exc:
        raise context.fail(str(exc)) from None
    return {"relationship_ids": ids}


@connector("renewal.apply", "Appliquer la décision de renouvellement",
           "La décision de renouvellement atteint la carte : nouvelle date de fin (convention "
           "renouvelée ou renégociée) ou relation archivée (fin de la relation).",
           inputs=(Input("relationship_id", "Relation de la carte", "integer", True,
                         default="${relationship_id}"),
                   Input("decision", "Décision", "string", True, default="${renewal_decision}",
                         help="renew, renegotiate ou end"),
                   Input("new_convention_end", "Nouvelle fin de la convention", "date",
                         default="${new_convention_end}")))
def _apply_renewal(context: ConnectorContext, values: dict) -> None:
    if values["decision"] not in ("renew", "renegotiate", "end"):
        raise context.fail(f"la décision « {values['decision']} » n'est pas renew, renegotiate ou end")
    registry.apply_renewal_decision(context.uow, relationship_id=values["relationship_id"],
                                    decision=values["decision"],
                                    new_convention_end=values["new_convention_end"],
                                    actor=context.actor, element_id=context.element_id)


@connector("partnership.contacts", "Compter les interlocuteurs du partenaire",
           "Compte les comptes actifs du groupe Partenaire rattachés au partenariat : le "
           "diagramme peut alors donner la parole au partenaire, ou s'en passer quand personne "
           "chez lui n'a de compte (un réseau informel, par exemple).",
           outputs=(Output("partner_contacts", "Variable du nombre d'interlocuteurs",
                           "partner_contacts"),))
def _count_partner_contacts(context: ConnectorContext, values: dict) -> dict:
    count = context.session.scalar(
        select(func.count()).select_from(PartnershipMember).join(
            User, User.id == PartnershipMember.user_id).where(
            PartnershipMember.partnership_id == context.partnership.id,
            access.members_clause(access.PARTNER)))
    return {"partner_contacts": int(count or 0)}


@connector("organisation.delegation", "Lire la délégation du directeur",
           "Lit sur la fiche de notre organisation (Carte > Organisations) le plafond que le "
           "document unique de délégation (CASF D312-176-5) permet au directeur d'engager seul : "
           "la table de formalisation le compare aux flux financiers. Il se règle une fois pour "
           "l'organisation, pas à chaque partenariat.",
           outputs=(Output("ceiling", "Variable du plafond délégué", "director_delegated_ceiling_eur"),
                    Output("delegation_date", "Variable de la date de la délégation",
                           "delegation_date")))
def _read_delegation(context: ConnectorContext, values: dict) -> dict:
    org = registry.delegation_of(context.session, context.partnership.organisation_id)
    if org is None:
        raise context.fail("aucune organisation n'est marquée comme la nôtre sur la carte : la "
                           "direction coche « C'est notre organisation » sur sa fiche et y inscrit "
                           "le plafond délégué, puis relance")
    if org.delegated_ceiling_eur is None:
        raise context.fail(f"le plafond délégué au directeur n'est pas inscrit sur la fiche de "
                           f"« {org.name} » : la direction le renseigne (Carte > Organisations), "
                           "puis relance")
    return {"ceiling": org.delegated_ceiling_eur,
            "delegation_date": org.delegation_date.isoformat() if org.delegation_date else None}


@connector("partnership.committee", "Réunir le comité de pilotage",
           "Inscrit sur le partenariat le comité de pilotage paritaire que la convention compose "
           "(des membres de chaque partie) ; sans composition donnée, relit celui qui est inscrit. "
           "Les tâches du comité vont ensuite à ceux de ses membres qui ont un compte "
           "(candidateUsers ${steering_committee_users}), et à la direction.",
           inputs=(Input("members", "Membres du comité", "any", default="${steering_committee}",
                         help="Les lignes « Comité de pilotage : ses membres » de la convention ; "
                              "vide pour relire le comité inscrit."),),
           outputs=(Output("users", "Variable des comptes des membres", "steering_committee_users"),))
def _steering_committee(context: ConnectorContext, values: dict) -> dict:
    if values["members"] is None:
        members = committee.members_of(context.session, context.partnership.id)
        if not members:
            raise context.fail("aucun comité de pilotage n'est inscrit sur le partenariat : il "
                               "l'est quand les fiches action commencent, d'après la convention")
        return {"users": committee.accounts(members)}
    try:
        users = committee.record(context.session, partnership_id=context.partnership.id,
                                 rows=values["members"], actor=context.actor, at=context.now(),
                                 instance_id=context.instance.id, element_id=context.element_id)
    except committee.CommitteeProblem as exc:
        raise context.fail(str(exc)) from None
    return {"users": users}


@connector("partnership.update", "Mettre à jour le partenariat",
           "Inscrit sur le partenariat son niveau de formalisation (la sortie de la table DMN) "
           "ou son statut (en cours, archivé, terminé).",
           inputs=(Input("formalisation_level", "Niveau de formalisation", "string",
                         help="L0 à L4, par exemple ${formalisation_level}"),
                   Input("status", "Statut", "choice", choices=(("", "Inchangé"), *STATUSES))))
def _update_partnership(context: ConnectorContext, values: dict) -> None:
    partnership, changes = context.partnership, {}
    level, status = values["formalisation_level"], values["status"]
    if level is not None:
        if level not in dict(LEVELS):
            raise context.fail(f"le niveau de formalisation « {level} » n'est pas L0 à L4")
        changes["formalisation_level"] = [partnership.formalisation_level, level]
        partnership.formalisation_level = level
    if status is not None:
        if status not in dict(STATUSES):
            raise context.fail(f"le statut « {status} » n'est pas active, archived ou ended")
        changes["status"] = [partnership.status, status]
        partnership.status = status
    if changes:
        audit.append(context.session, type="partnership_updated", actor=context.actor,
                     at=context.now(), partnership_id=partnership.id,
                     instance_id=context.instance.id, element_id=context.element_id,
                     payload={"changes": changes})
