"""Drives demo partnerships through the method with realistic answers.

Every step goes through the engine's services, and each demo user only completes a task
that their own inbox shows, as they would in the browser. Dates follow the engine's clock.

  (a) Atelier intergénérationnel avec le lycée Jean Jaurès: the idea waits for Claire
      Martin's validation.
  (b) Consultations avancées du centre hospitalier à l'EHPAD: in negotiation, draft 2
      written by Karim Benali, Paul Lefèvre's comments pending.
  (c) Ateliers mémoire avec la mairie de Bagnolet: the EHPAD lends its activity room for
      about fifteen months, so the decision table asks for a convention deliberated by the
      board (L3): the board approves, the association's president and the town hall sign,
      the town hall is on the map; action sheets, a rolling programme, period 1 reviewed,
      period 2 to be planned by Karim Benali.
  (d) Navette solidaire avec la mairie de Bagnolet: the idea was declined (archived).
  (e) Journée de prévention des chutes avec le centre hospitalier: a one-day event (L1):
      the letter of intent signed by the direction, its light follow-up, ended.

Each negotiation starts with the formalisation criteria; the level every demo partnership
stands at is the one the decision table gives on those criteria (tests/scenarios check it).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.method.plan import DEMO_IDEA_OBJECTIVES
from partnerflow.engine.runtime import documents, notifications, queries, services
from partnerflow.engine.runtime.queries import InboxFilter
from partnerflow.engine.store.models import HumanTask, User

DIRECTION, DELEGATE, PROPOSER = "claire.martin", "karim.benali", "sophie.durand"
HOSPITAL_PARTNER, STEERING, BOARD = "paul.lefevre", "lucas.moreau", "anne.roux"
# The demo's one partner account is the hospital's; the town hall's referent comments
# the drafts of (c), so she gets an account of her own.
TOWN_PARTNER = ("nadia.haddad", "Nadia Haddad", "Mairie de Bagnolet")
PASSWORD = "demo"


class _Partnership:
    """One demo partnership and the users who work on it."""

    def __init__(self, pf, title: str, partner_org: int, members: tuple[str, ...] = ()):
        self.pf = pf
        self.partner = members[0] if members else None  # the partner's contact
        with pf.uow() as uow:
            self.id = services.create_partnership(
                uow, title=title, actor=DIRECTION, partner_organisation_ids=(partner_org,)
            )
        for username in members:
            with pf.uow() as uow:
                services.attach_member(uow, partnership_id=self.id, username=username, actor=DIRECTION)

    def day(self, offset: int) -> str:
        return (self.pf.clock().date() + timedelta(days=offset)).isoformat()

    def propose(self, idea: dict, proposer: str = PROPOSER) -> None:
        with self.pf.uow() as uow:
            services.start_instance(
                uow, partnership_id=self.id, process_key="partnership_cycle", actor=proposer, data=idea
            )
        self.announce()

    def announce(self) -> None:
        """What the worker does between two steps: tell whoever may act on the new tasks."""
        with self.pf.uow() as uow:
            notifications.announce_new_tasks(uow, limit=10_000)

    def task(self, username: str, element_id: str) -> HumanTask:
        with self.pf.read() as session:
            ids = [
                row.id
                for row in queries.inbox(
                    session, username, self.pf.clock(), InboxFilter(partnership_id=self.id, limit=100)
                )
            ]
            task = (
                session.scalar(
                    select(HumanTask)
                    .where(HumanTask.id.in_(ids), HumanTask.element_id == element_id)
                    .order_by(HumanTask.id)
                    .limit(1)
                )
                if ids
                else None
            )
        if task is None:
            raise RuntimeError(f"demo: '{element_id}' is not in {username}'s inbox")
        return task

    def do(self, username: str, element_id: str, data: dict) -> dict:
        task = self.task(username, element_id)
        with self.pf.uow() as uow:
            done = services.complete_task(
                uow,
                task_id=task.id,
                actor=username,
                data=data,
                password=PASSWORD if task.confirm_password else None,
            )
        if done.error:
            raise RuntimeError(f"demo: '{element_id}' failed: {done.error}")
        self.announce()
        return task.context or {}

    def document(self, filename: str, text: str) -> str:
        with self.pf.uow() as uow:
            sha = documents.store(
                uow,
                partnership_id=self.id,
                filename=filename,
                content=text.encode("utf-8"),
                actor=DELEGATE,
                max_bytes=self.pf.settings.max_upload_bytes,
            )
            uow.commit()
        return sha

    # --- the method's steps with realistic answers
    def accept_idea(self, comment: str) -> None:
        self.do(DIRECTION, "validate_idea", {"idea_decision": "accept", "idea_validation_comment": comment})

    def elaborate(self, mission: dict, elaboration: dict) -> None:
        self.do(
            DIRECTION,
            "write_mission_letter",
            {
                "mission_deadline": self.day(120),
                "mission_means": "Trois heures par semaine.",
                "delegated_decisions": "Calendrier des rencontres, organisation des séances.",
                "reserved_decisions": "Tout engagement financier, toute convention.",
                "checkpoints": [
                    {"checkpoint_date": self.day(30), "checkpoint_subject": "Point d'étape avec la direction"}
                ],
                "delegate": DELEGATE,
                **mission,
            },
        )
        if self.partner:  # the partner states its own interests, in parallel
            self.do(self.partner, "partner_states_interests", {
                "partner_interests": "Que les personnes que nous suivons en profitent sans rupture.",
                "partner_constraints": "Nos équipes ne sont disponibles qu'en semaine.",
                "partner_decision_process": "Notre direction décide ; nos instances sont informées.",
            })
        self.do(DELEGATE, "elaborate_partnership", elaboration)
        self.do(DIRECTION, "validate_elaboration", {"elaboration_decision": "validate"})

    def draft(self, version_note: str, purposes: str, commitments: list[dict]) -> None:
        self.do(
            DELEGATE,
            "write_draft",
            {"draft_purposes": purposes, "draft_modalities": version_note, "commitments": commitments},
        )

    def comment(self, partner: str, comments: str, change: tuple[str, str] | None = None) -> None:
        data = {"partner_comments": comments, "partner_agrees_in_principle": True}
        if change:
            data["requested_changes"] = [{"clause": change[0], "requested_change": change[1]}]
        self.do(partner, "comment_draft", data)

    def criteria(self, notes: str, **inputs) -> None:
        """The formalisation criteria, at the start of the negotiation."""
        self.do(DIRECTION, "fill_formalisation_inputs", dict(_inputs(**inputs), formalisation_notes=notes))

    def final_negotiation(self, partner: tuple[str, str, str], agreed_terms: str) -> None:
        """The final negotiation, the director present, the commitments as the criteria said."""
        self.do(
            DIRECTION,
            "hold_final_negotiation",
            {
                "final_negotiation_date": self.day(-1),
                "direction_present": True,
                "participants": [
                    {"full_name": "Claire Martin", "organisation": "Association Les Tilleuls",
                     "quality": "Directrice générale"},
                    {"full_name": partner[0], "organisation": partner[1], "quality": partner[2]},
                ],
                "agreed_terms": agreed_terms,
                "commitments_changed": False,
            },
        )

    def sign(self, username: str, element_id: str, full_name: str, quality: str) -> None:
        self.do(
            username,
            element_id,
            {"signatory_full_name": full_name, "signatory_quality": quality, "signature_consent": True},
        )

    def letter_of_intent(self, summary: str, signatory: str) -> None:
        sha = self.document("lettre-intention.txt", f"Lettre d'intention\n\n{summary}\n\n{signatory}\n")
        self.do(
            DELEGATE,
            "upload_letter_of_intent",
            {
                "letter_of_intent_document": sha,
                "letter_date": self.day(-1),
                "letter_signatory": signatory,
                "letter_summary": summary,
            },
        )
        self.sign(DIRECTION, "sign_letter_of_intent", "Claire Martin", "Directrice générale")

    def action_sheets(self, mode: str, sheet: dict) -> None:
        self.do(DELEGATE, "write_action_sheets", {"realisation_mode": mode, "action_sheets": [sheet]})
        self.do(STEERING, "validate_action_sheets", {"action_sheets_decision": "validate"})
        if self.partner:
            self.do(self.partner, "partner_validate_action_sheets",
                    {"partner_action_sheets_decision": "accept"})


def _inputs(**changes) -> dict:
    base = {
        "informal_network_only": False,
        "convention_required_by_text": False,
        "annual_public_subsidy_eur": 0,
        "money_flows": False,
        "money_flow_amount_eur": 0,
        "staff_made_available": False,
        "premises_or_equipment_lent": False,
        "personal_data_shared": False,
        "duration_months": 0,
        "tacit_renewal": False,
        "affects_cpom_or_authorisation": False,
        "joint_hiring_or_assets": False,
    }
    return {**base, **changes}


def _memory_convention(p: _Partnership) -> dict:
    """The L3 convention of the memory workshops: the association (its president signs) and
    the town hall; the activity room lent for fifteen months."""
    return {
        "convention_title": "Convention des ateliers mémoire EHPAD Les Tilleuls – Mairie de Bagnolet",
        "parties": [
            {
                "legal_name": "Association Les Tilleuls (EHPAD et IME)",
                "siret": "77567227200017",
                "finess": "750000123",
                "legal_representative": "Anne Roux",
                "representative_quality": "Présidente de l'association",
                "mandate": "Statuts de l'association, article 12 ; délibération du conseil d'administration.",
            },
            {
                "legal_name": "Mairie de Bagnolet",
                "siret": "21930006000017",
                "legal_representative": "Nadia Haddad",
                "representative_quality": "Adjointe au maire chargée des seniors",
                "mandate": "Arrêté de délégation du maire.",
            },
        ],
        "preamble": "Le CCAS de Bagnolet anime des ateliers mémoire pour les seniors du quartier ; "
                    "l'EHPAD Les Tilleuls ouvre sa salle d'animation et y associe ses résidents.",
        "purpose": "Organiser des ateliers mémoire partagés entre résidents et seniors du quartier.",
        "population_concerned": "Résidents volontaires de l'EHPAD et seniors inscrits au CCAS.",
        "territory": "Bagnolet et Montreuil (Seine-Saint-Denis)",
        "reciprocal_commitments": [
            {"party": "EHPAD Les Tilleuls",
             "commitment": "Prêt de la salle d'animation un jeudi sur deux, accompagnement des résidents."},
            {"party": "Mairie de Bagnolet",
             "commitment": "Animatrice du CCAS, supports d'atelier, communication aux seniors."},
        ],
        "operating_rules": "Calendrier trimestriel arrêté en comité ; inscriptions tenues par le CCAS.",
        "referents": [
            {"party": "EHPAD Les Tilleuls", "full_name": "Karim Benali", "function": "Cadre de santé",
             "email": "k.benali@les-tilleuls.example"},
            {"party": "Mairie de Bagnolet", "full_name": "Nadia Haddad", "function": "Responsable du CCAS",
             "email": "n.haddad@bagnolet.example"},
        ],
        "rights_of_people_accompanied": "Participation libre ; droit à l'image recueilli par écrit.",
        "data_protection_roles": "none",
        "liability_and_insurance": "Chaque partie assure ses activités et ses intervenants.",
        "steering_committee": [
            {"full_name": "Lucas Moreau", "side": "ours", "function": "Cadre coordinateur",
             "account": STEERING},
            {"full_name": "Karim Benali", "side": "ours", "function": "Cadre de santé"},
            {"full_name": "Nadia Haddad", "side": "partner", "organisation": "Mairie de Bagnolet",
             "function": "Responsable du CCAS", "account": TOWN_PARTNER[0]},
        ],
        "steering_meeting_frequency": "quarterly",
        "evaluation_indicators": [
            {"indicator": "Participants par atelier", "target": "12", "source": "Feuilles de présence"},
        ],
        "start_date": p.day(-100),
        "intermediate_evaluation_date": p.day(90),
        "final_evaluation_date": p.day(360),
        "end_date": p.day(365),
        "renewal": "express",
        "amendments": "Par avenant écrit signé des deux parties.",
        "termination_notice_months": 3,
        "termination_conditions": "Par lettre recommandée avec avis de réception.",
        "disputes": "Conciliation, puis tribunal administratif de Montreuil.",
        "signature_place": "Bagnolet",
        "signature_date": p.day(-1),
    }


def _evaluation(p: _Partnership, context: dict, value: str, findings: str) -> dict:
    return {
        "evaluation_date": p.day(0),
        "findings": findings,
        "indicator_values": [dict(row, value=value) for row in context.get("indicator_values", [])],
        "small_decisions": [{"decision": "Envoyer le planning aux familles", "owner": "Karim Benali"}],
        "lessons_learnt": "Associer les familles dès le départ.",
    }


def _sheet(
    p: _Partnership,
    title: str,
    partner: str,
    referent: str,
    activity: str,
    intermediate: int,
    final: int,
    start: int,
    end: int,
) -> dict:
    return {
        "sheet_number": 1,
        "title": title,
        "objective_served": "establishment_project",
        "general_objective": "Rompre l'isolement et entretenir l'autonomie des résidents.",
        "operational_objectives": [{"objective": "Une séance toutes les deux semaines"}],
        "public_concerned": "Résidents volontaires de l'EHPAD",
        "place": "Salle d'animation",
        "pilot": "Karim Benali",
        "partner_roles": [
            {"organisation": partner, "referent": referent, "role": "Co-animation", "activity": activity}
        ],
        "start_date": p.day(start),
        "end_date": p.day(end),
        "indicators": [
            {"indicator": "Résidents présents", "target": "10 par séance", "source": "Feuille de présence"}
        ],
        "intermediate_evaluation_date": p.day(intermediate),
        "final_evaluation_date": p.day(final),
        "status": "draft",  # the steering committee validates it
        "budget_eur": 600,
    }


def _idea(title: str, description: str, origin: str, partner: str, contact: str, benefit: str) -> dict:
    return {
        "idea_title": title,
        "idea_description": description,
        "idea_origin": origin,
        "potential_partners": [
            {"organisation_name": partner, "contact_name": contact, "existing_relationship": "none"}
        ],
        "expected_benefit": benefit,
        **({"plan_objective": DEMO_IDEA_OBJECTIVES[title]} if title in DEMO_IDEA_OBJECTIVES else {}),
    }


def _town_partner(pf, org_ids: list[int]) -> str:
    username, full_name, _ = TOWN_PARTNER
    with pf.uow() as uow:
        if uow.session.scalar(select(User.id).where(User.username == username)) is None:
            accounts.create_user(
                uow,
                username=username,
                full_name=full_name,
                roles=["partner"],
                actor="demo",
                password=PASSWORD,
                organisation_id=org_ids[2],
            )
    return username


def walk_demo_partnerships(pf, org_ids: list[int]) -> None:
    """Create the demo partnerships (load_demo calls this only when there are none)."""
    hospital, town, school = org_ids[1], org_ids[2], org_ids[3]
    town_partner = _town_partner(pf, org_ids)

    # (a) an idea waiting for the direction's validation
    a = _Partnership(pf, "Atelier intergénérationnel avec le lycée Jean Jaurès", school)
    a.propose(
        _idea(
            "Atelier intergénérationnel avec le lycée Jean Jaurès",
            "La professeure de la section ASSP propose que ses élèves de première animent chaque "
            "mois un atelier numérique avec les résidents.",
            "partner_request",
            "Lycée professionnel Jean Jaurès",
            "Mme Lopez, professeure ASSP",
            "Rompre l'isolement, découvrir la visio avec les petits-enfants.",
        )
    )

    # (e) a one-day event at L1: the letter of intent signed, its light follow-up, ended
    e = _Partnership(
        pf, "Journée de prévention des chutes avec le centre hospitalier", hospital, (HOSPITAL_PARTNER,)
    )
    e.propose(
        _idea(
            "Journée de prévention des chutes avec le centre hospitalier",
            "L'équipe mobile de gériatrie propose une journée d'ateliers équilibre et d'information "
            "sur les chutes pour les résidents et leurs familles.",
            "partner_request",
            "Centre hospitalier de Montreuil",
            "M. Paul Lefèvre",
            "Moins de chutes, des familles mieux informées.",
        )
    )
    e.accept_idea("Bonne idée, à organiser avant l'été.")
    e.elaborate(
        {
            "mission_objectives": "Organiser une journée de prévention des chutes.",
            "mission_scope": "Une journée, résidents et familles.",
        },
        {
            "partners_analysis": [
                {
                    "organisation_name": "Centre hospitalier de Montreuil",
                    "dynamics": "Équipe mobile de gériatrie active sur le territoire.",
                    "needs": "Faire connaître ses consultations chutes.",
                    "interests": "Prévention en amont des hospitalisations.",
                }
            ],
            "needs_assessment": "Quatorze chutes déclarées au dernier trimestre.",
            "our_interests": "Sensibiliser les équipes et les familles.",
            "shared_interests": "Prévenir les hospitalisations après une chute.",
            "proposed_orientation": "Une journée d'ateliers au printemps.",
        },
    )
    e.criteria(
        "Une journée, sans argent, sans personnel mis à disposition, sans données partagées.",
        duration_months=1,
    )
    e.draft(
        "Une journée en mai, ateliers le matin, conférence l'après-midi.",
        "Sensibiliser résidents et familles à la prévention des chutes.",
        [
            {"party": "EHPAD Les Tilleuls", "commitment": "Salles, communication aux familles."},
            {
                "party": "Centre hospitalier de Montreuil",
                "commitment": "Deux kinésithérapeutes, un gériatre.",
            },
        ],
    )
    e.comment(HOSPITAL_PARTNER, "D'accord ; prévoir un temps pour les équipes de nuit.")
    e.do(DIRECTION, "validate_draft", {"draft_decision": "validate"})
    e.final_negotiation(
        ("Paul Lefèvre", "Centre hospitalier de Montreuil", "Directeur adjoint"),
        "Une journée en mai ; le centre hospitalier anime les ateliers, l'EHPAD accueille.",
    )
    e.letter_of_intent(
        "Journée commune de prévention des chutes au printemps.", "Claire Martin, directrice générale"
    )
    e.do(
        DIRECTION,
        "follow_up_letter_of_intent",
        {
            "follow_up_date": e.day(0),
            "follow_up_summary": "Journée tenue : 38 résidents, 22 familles ; ateliers équilibre appréciés.",
            "follow_up_decision": "end",
        },
    )

    # (b) in negotiation: draft 2 written, the hospital's comments pending
    b = _Partnership(
        pf, "Consultations avancées du centre hospitalier à l'EHPAD", hospital, (HOSPITAL_PARTNER,)
    )
    b.propose(
        _idea(
            "Consultations avancées du centre hospitalier à l'EHPAD",
            "Le service de gériatrie propose qu'un gériatre et une infirmière de l'équipe mobile "
            "consultent une demi-journée par mois à l'EHPAD.",
            "partner_request",
            "Centre hospitalier de Montreuil",
            "M. Paul Lefèvre",
            "Éviter des passages aux urgences, des avis spécialisés sur place.",
        ),
        proposer=DELEGATE,
    )
    b.accept_idea("Cohérent avec le projet d'établissement ; à construire avec le médecin coordonnateur.")
    b.elaborate(
        {
            "mission_objectives": "Construire des consultations gériatriques avancées mensuelles.",
            "mission_scope": "Gériatrie et équipe mobile ; hors champ : la permanence de nuit.",
            "mission_budget_eur": 800,
        },
        {
            "partners_analysis": [
                {
                    "organisation_name": "Centre hospitalier de Montreuil",
                    "dynamics": "Filière gériatrique du GHT en construction.",
                    "needs": "Réduire les passages aux urgences des personnes âgées.",
                    "interests": "Désengorger les urgences.",
                }
            ],
            "needs_assessment": "Douze passages aux urgences évitables l'an dernier.",
            "our_interests": "Avis spécialisés sur place, formation des soignants.",
            "shared_interests": "Un parcours de soins sans rupture.",
            "proposed_orientation": "Une demi-journée de consultation par mois.",
        },
    )
    b.criteria(
        "Comptes rendus de consultation partagés, salle de soins prêtée, un an.",
        personal_data_shared=True,
        premises_or_equipment_lent=True,
        duration_months=12,
    )
    commitments = [
        {"party": "EHPAD Les Tilleuls", "commitment": "Salle de soins équipée, dossier de soins."},
        {
            "party": "Centre hospitalier de Montreuil",
            "commitment": "Un gériatre et une IDE de l'équipe mobile.",
        },
    ]
    b.draft(
        "Version 1 : un mardi par mois, 14 h – 17 h.", "Consultations gériatriques avancées.", commitments
    )
    b.comment(
        HOSPITAL_PARTNER,
        "D'accord sur le principe ; le mardi ne convient pas au service.",
        ("Calendrier", "Consultations le jeudi matin."),
    )
    b.do(
        DIRECTION,
        "validate_draft",
        {
            "draft_decision": "new_version",
            "draft_validation_comment": "Reprendre le calendrier avec le jeudi matin.",
        },
    )
    b.draft("Version 2 : un jeudi par mois, 9 h – 12 h.", "Consultations gériatriques avancées.", commitments)

    # (c) rolling programme with the town hall: period 1 reviewed, period 2 to plan
    c = _Partnership(pf, "Ateliers mémoire avec la mairie de Bagnolet", town, (town_partner,))
    c.propose(
        _idea(
            "Ateliers mémoire avec la mairie de Bagnolet",
            "Le CCAS de Bagnolet cherche un lieu pour ses ateliers mémoire ; nos résidents pourraient "
            "y participer avec les seniors du quartier.",
            "chance_meeting",
            "Mairie de Bagnolet",
            "Mme Nadia Haddad, CCAS",
            "Stimulation cognitive et ouverture sur le quartier.",
        )
    )
    c.accept_idea("Oui : ouverture de l'EHPAD sur la ville.")
    c.elaborate(
        {
            "mission_objectives": "Accueillir les ateliers mémoire du CCAS avec nos résidents.",
            "mission_scope": "Ateliers mémoire ; hors champ : le transport des seniors.",
        },
        {
            "partners_analysis": [
                {
                    "organisation_name": "Mairie de Bagnolet",
                    "dynamics": "Plan local en faveur des seniors.",
                    "needs": "Un lieu accessible pour les ateliers.",
                    "interests": "Programme seniors du CCAS.",
                }
            ],
            "needs_assessment": "Résidents demandeurs d'activités cognitives.",
            "our_interests": "Ouvrir l'établissement sur le quartier.",
            "shared_interests": "Lutter contre l'isolement des âgés.",
            "proposed_orientation": "Des ateliers par trimestres, programmés au fil de l'eau.",
        },
    )
    c.criteria(
        "La salle d'animation de l'EHPAD est prêtée au CCAS un jeudi sur deux, pour environ quinze mois.",
        premises_or_equipment_lent=True,
        duration_months=15,
    )
    c.draft(
        "Un atelier tous les quinze jours, le jeudi après-midi.",
        "Ateliers mémoire partagés.",
        [
            {"party": "EHPAD Les Tilleuls", "commitment": "Salle d'animation, accompagnement des résidents."},
            {"party": "Mairie de Bagnolet", "commitment": "Animatrice du CCAS, communication aux seniors."},
        ],
    )
    c.comment(town_partner, "Très bien ; le CCAS fournit les supports.")
    c.do(DIRECTION, "validate_draft", {"draft_decision": "validate"})
    c.final_negotiation(
        ("Nadia Haddad", "Mairie de Bagnolet", "Responsable du CCAS"),
        "La salle d'animation un jeudi sur deux pendant quinze mois ; le CCAS anime, l'EHPAD accueille.",
    )
    c.do(DELEGATE, "write_convention", _memory_convention(c))
    extract = c.document(
        "deliberation-ca-ateliers-memoire.txt",
        "Extrait du registre des délibérations du conseil d'administration\n\n"
        "Le conseil approuve la convention des ateliers mémoire avec la mairie de Bagnolet.\n",
    )
    c.do(
        BOARD,
        "deliberate_board",
        {
            "board_meeting_date": c.day(-2),
            "deliberation_number": "CA-2026-04",
            "board_decision": "approve",
            "votes_for": 8,
            "votes_against": 0,
            "abstentions": 1,
            "deliberation_extract": extract,
        },
    )
    # one signature per party, in parallel: the association's president and the town hall
    c.sign(town_partner, "sign_convention_partner", "Nadia Haddad", "Adjointe au maire, par délégation")
    c.sign(BOARD, "sign_convention_legal_representative", "Anne Roux", "Présidente de l'association")
    c.action_sheets(
        "rolling",
        _sheet(
            c,
            "Ateliers mémoire partagés",
            "Mairie de Bagnolet",
            "Mme Nadia Haddad",
            "Animation des ateliers",
            90,
            360,
            -95,
            365,
        ),
    )
    c.do(
        DELEGATE,
        "plan_period",
        {
            "period_start_date": c.day(-91),
            "period_end_date": c.day(-1),
            "period_objectives": "Six ateliers ce trimestre.",
            "period_actions": [
                {"sheet_number": 1, "action": "Ateliers mémoire", "responsible": "Karim Benali"}
            ],
        },
    )
    c.do(
        STEERING,
        "record_period_realisation",
        {
            "realisation_start_date": c.day(-91),
            "actions_carried_out": [{"sheet_number": 1, "action": "Six ateliers tenus", "status": "done"}],
        },
    )
    c.do(
        STEERING,
        "review_period",
        {
            "evaluation_date": c.day(0),
            "findings": "Douze participants en moyenne, dont cinq résidents.",
            "lessons_learnt": "Prévoir un goûter commun.",
            "next_period": "yes",
        },
    )

    # (d) a declined idea, archived
    d = _Partnership(pf, "Navette solidaire avec la mairie de Bagnolet", town)
    d.propose(
        _idea(
            "Navette solidaire avec la mairie de Bagnolet",
            "Partager le minibus de l'EHPAD avec la navette seniors de la ville.",
            "deliberate_decision",
            "Mairie de Bagnolet",
            "Service transports",
            "Des sorties plus fréquentes pour les résidents.",
        )
    )
    d.do(
        DIRECTION,
        "validate_idea",
        {
            "idea_decision": "decline",
            "idea_validation_comment": "Assurance du minibus incompatible ; à revoir.",
        },
    )
