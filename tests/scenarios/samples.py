"""Realistic answers for every form of the method, for one partnership, with dates
relative to the engine's clock: the Association Les Tilleuls (an EHPAD and an IME,
Montreuil) and its partners, the Centre hospitalier de Montreuil, the Mairie de Bagnolet
and the Lycée professionnel Jean Jaurès."""

from __future__ import annotations

import copy
from datetime import date, timedelta

# the demo's people, by what they do in the story
DIRECTION = "claire.martin"
DELEGATE = "karim.benali"
PROPOSER = "sophie.durand"
PARTNER = "paul.lefevre"
BOARD = "anne.roux"
STEERING = "lucas.moreau"

LES_TILLEULS = {
    "legal_name": "Association Les Tilleuls (EHPAD et IME)",
    "siret": "77567227200017",
    "finess": "750000123",
    "legal_representative": "Claire Martin",
    "representative_quality": "Directrice générale",
    "mandate": "Document unique de délégation du 14 janvier 2026 (CASF D312-176-5).",
}
# the association's legal representative: its president (the board's chair), who signs from L3
BOARD_CHAIR = {
    "legal_representative": "Anne Roux",
    "representative_quality": "Présidente de l'association",
    "mandate": "Statuts de l'association, article 12 ; délibération du conseil d'administration.",
}
HOSPITAL = {
    "legal_name": "Centre hospitalier de Montreuil",
    "siret": "26930001100012",
    "finess": "930110051",
    "legal_representative": "Paul Lefèvre",
    "representative_quality": "Directeur adjoint, chargé des coopérations",
    "mandate": "Délégation de signature du directeur (CSP L6143-7).",
}

IDEA = {
    "idea_title": "Consultations avancées du centre hospitalier à l'EHPAD",
    "idea_description": (
        "Lors de la réunion de la filière gériatrique, le service de gériatrie du centre "
        "hospitalier propose qu'un gériatre et une infirmière de l'équipe mobile viennent "
        "consulter une demi-journée par mois à l'EHPAD, pour éviter des passages aux urgences."
    ),
    "idea_origin": "partner_request",
    "idea_origin_details": "Réunion de la filière gériatrique du territoire, janvier.",
    "potential_partners": [
        {
            "organisation_name": "Centre hospitalier de Montreuil",
            "contact_name": "M. Paul Lefèvre",
            "existing_relationship": "none",
        }
    ],
    "expected_benefit": "Moins d'hospitalisations évitables, des avis spécialisés sur place.",
    "people_concerned": "Les 84 résidents de l'EHPAD, en priorité les plus fragiles.",
}


def _documents_text(title: str, body: str) -> bytes:
    return f"{title}\n\n{body}\n".encode()


class Samples:
    """What each user types in each form, for one partnership, on the engine's dates."""

    def __init__(self, today: date, store):
        self.today = today
        self.store = store  # store(filename, bytes) -> sha256 of a document of the partnership
        self.partner: str | None = PARTNER  # the partner's account attached to the partnership

    def day(self, offset: int) -> str:
        return (self.today + timedelta(days=offset)).isoformat()

    # --- one builder per element id; `choice` picks a decision, `context` is the task's data
    def data(self, element_id: str, choice: str | None, context: dict) -> dict:
        builder = getattr(self, element_id)
        return builder(choice, context) if choice is not None else builder(context=context)

    def validate_idea(self, choice="accept", context=None):
        return {
            "accept": {
                "idea_decision": "accept",
                "idea_validation_comment": "Très bonne idée, cohérente avec le projet d'établissement.",
            },
            "more_info": {
                "idea_decision": "more_info",
                "idea_validation_comment": "Qui prescrit les consultations ? Quel coût pour l'EHPAD ?",
            },
            "decline": {
                "idea_decision": "decline",
                "idea_validation_comment": "Pas cette année : la salle de soins est en travaux.",
            },
        }[choice]

    def complete_idea(self, choice=None, context=None):
        return {
            "idea_completion_note": (
                "Le médecin coordonnateur oriente les résidents ; les consultations sont "
                "facturées à l'assurance maladie, sans coût pour l'EHPAD."
            ),
            "people_concerned": "Les résidents orientés par le médecin coordonnateur.",
        }

    def write_mission_letter(self, choice=None, context=None):
        return {
            "mission_objectives": "Construire des consultations avancées mensuelles avec le CH.",
            "mission_scope": "Gériatrie et équipe mobile ; hors champ : la permanence des soins de nuit.",
            "mission_deadline": self.day(120),
            "mission_means": "Trois heures par semaine, appui du médecin coordonnateur.",
            "mission_budget_eur": 800,
            "delegated_decisions": "Calendrier des rencontres, organisation des séances.",
            "reserved_decisions": "Tout engagement financier, toute convention.",
            "checkpoints": [
                {"checkpoint_date": self.day(30), "checkpoint_subject": "Premier point avec la direction"}
            ],
            "delegate": DELEGATE,
        }

    def elaborate_partnership(self, choice=None, context=None):
        return {
            "partners_analysis": [
                {
                    "organisation_name": "Centre hospitalier de Montreuil",
                    "dynamics": "Filière gériatrique en construction, projet médical partagé du GHT.",
                    "needs": "Réduire les passages aux urgences des personnes âgées.",
                    "orientations": "Aller vers les établissements médico-sociaux.",
                    "interests": "Indicateurs de la filière, désengorgement des urgences.",
                }
            ],
            "needs_assessment": "Douze passages aux urgences évitables l'an dernier.",
            "our_interests": "Avis spécialisés sur place, formation des équipes soignantes.",
            "shared_interests": "Un parcours de soins sans rupture pour les résidents.",
            "proposed_orientation": "Une demi-journée de consultation par mois, co-organisée.",
        }

    def validate_elaboration(self, choice="validate", context=None):
        return {
            "validate": {"elaboration_decision": "validate"},
            "send_back": {
                "elaboration_decision": "send_back",
                "elaboration_validation_comment": "Préciser les intérêts du centre hospitalier.",
            },
        }[choice]

    def write_draft(self, choice=None, context=None):
        version = (context or {}).get("draft_version", 1)
        return {
            "draft_purposes": "Organiser des consultations gériatriques avancées à l'EHPAD.",
            "draft_modalities": f"Version {version} : un mardi par mois, 14 h – 17 h, salle de soins.",
            "commitments": [
                {
                    "party": "EHPAD Les Tilleuls",
                    "commitment": "Salle équipée, dossier de soins, accompagnement.",
                },
                {
                    "party": "Centre hospitalier de Montreuil",
                    "commitment": "Un gériatre et une IDE de l'équipe mobile.",
                },
            ],
            "changes_since_previous": f"Remarques du partenaire intégrées (version {version}).",
        }

    def comment_draft(self, choice=None, context=None):
        return {
            "partner_comments": "D'accord sur le principe ; préférer le jeudi matin.",
            "requested_changes": [
                {"clause": "Calendrier", "requested_change": "Consultations le jeudi de 9 h à 12 h."}
            ],
            "partner_agrees_in_principle": True,
        }

    def validate_draft(self, choice="validate", context=None):
        return {
            "validate": {"draft_decision": "validate"},
            "new_version": {
                "draft_decision": "new_version",
                "draft_validation_comment": "Intégrer les remarques du centre hospitalier.",
            },
        }[choice]

    def fill_formalisation_inputs(self, choice="L2", context=None):
        return formalisation_inputs(**LEVEL_CASES[choice])

    def record_network(self, choice=None, context=None):
        return {
            "network_members": [
                {
                    "organisation_name": "CLIC de Montreuil",
                    "contact_name": "Mme Leroy",
                    "contact_email": "leroy@clic-montreuil.example",
                    "known_since": self.day(-400),
                    "known_by": "Infirmière coordinatrice",
                }
            ],
            "map_review_date": self.day(180),
        }

    def upload_letter_of_intent(self, choice=None, context=None):
        sha = self.store(
            "lettre-intention.txt",
            _documents_text(
                "Lettre d'intention", "Les deux établissements s'engagent à organiser une journée commune."
            ),
        )
        return {
            "letter_of_intent_document": sha,
            "letter_date": self.day(-2),
            "letter_signatory": "Claire Martin, directrice générale",
            "letter_summary": "Une journée de sensibilisation commune au printemps.",
        }

    def hold_final_negotiation(self, choice="present", context=None):
        absent = {
            "direction_present": False,
            "direction_absence_reason": "Conseil de la vie sociale convoqué le même jour.",
            "direction_representative_name": "Julie Garnier",
            "direction_representative_quality": "Directrice adjointe, par délégation du 2 janvier 2026",
        }
        return {
            "final_negotiation_date": self.day(-1),
            "direction_present": True,
            "commitments_changed": False,
            "participants": [
                {
                    "full_name": "Claire Martin",
                    "organisation": "Association Les Tilleuls",
                    "quality": "Directrice générale",
                },
                {
                    "full_name": "Paul Lefèvre",
                    "organisation": "Centre hospitalier de Montreuil",
                    "quality": "Directeur adjoint",
                },
            ],
            "agreed_terms": "Une demi-journée par mois, avis écrit versé au dossier de soins.",
            **(absent if choice == "absent" else {}),
        }

    def reassess_formalisation_inputs(self, choice="L2", context=None):
        return self.fill_formalisation_inputs(choice, context)

    def sign_letter_of_intent(self, choice=None, context=None):
        return {
            "signatory_full_name": "Claire Martin",
            "signatory_quality": "Directrice générale",
            "signature_consent": True,
        }

    def follow_up_letter_of_intent(self, choice="end", context=None):
        return {
            "follow_up_date": self.day(0),
            "follow_up_summary": "La journée commune a eu lieu ; 40 participants, des liens à garder.",
            "follow_up_decision": choice,
        }

    def write_convention(self, choice=None, context=None):
        ours = dict(LES_TILLEULS)
        if (context or {}).get("formalisation_level") in ("L3", "L4"):
            ours.update(BOARD_CHAIR)  # from L3 the legal representative signs
        sha = self.store(
            "convention-consultations-avancees.txt",
            _documents_text(
                "Convention de consultations avancées",
                "Entre l'Association Les Tilleuls et le CH de Montreuil.",
            ),
        )
        return {
            "convention_title": "Convention de consultations avancées EHPAD Les Tilleuls – CH de Montreuil",
            "parties": [ours, dict(HOSPITAL)],
            "preamble": "Vu le code de la santé publique, notamment son article L6134-1 ; vu le CASF …",
            "purpose": "Organiser des consultations gériatriques avancées au sein de l'EHPAD.",
            "population_concerned": "Les résidents de l'EHPAD orientés par le médecin coordonnateur.",
            "territory": "Montreuil (Seine-Saint-Denis)",
            "reciprocal_commitments": [
                {"party": "EHPAD", "commitment": "Mise à disposition d'une salle de soins équipée."},
                {
                    "party": "Centre hospitalier",
                    "commitment": "Un gériatre et une IDE une demi-journée par mois.",
                },
            ],
            "financial_contributions": [
                {
                    "payer": "EHPAD",
                    "payee": "Centre hospitalier",
                    "amount_eur": 1200,
                    "schedule": "Trimestriel",
                }
            ],
            "operating_rules": "Rendez-vous pris par l'IDE coordinatrice, messagerie sécurisée de santé.",
            "referents": [
                {
                    "party": "EHPAD",
                    "full_name": "Karim Benali",
                    "function": "Cadre de santé",
                    "email": "k.benali@les-tilleuls.example",
                }
            ],
            "rights_of_people_accompanied": "Consentement recueilli, libre choix du médecin rappelé.",
            "data_protection_roles": "separate_controllers",
            "data_shared": "Comptes rendus de consultation ; finalité : continuité des soins.",
            "health_data_sharing": "care_team",
            "people_information_and_consent": "Résident informé à l'admission ; il peut s'y opposer.",
            "liability_and_insurance": "Chaque partie conserve sa responsabilité et s'assure.",
            "steering_committee": [
                {"full_name": "Lucas Moreau", "side": "ours", "function": "Médecin coordonnateur",
                 "account": STEERING},
                {"full_name": "Paul Lefèvre", "side": "partner", "organisation": HOSPITAL["legal_name"],
                 "function": "Chef du pôle gériatrie",
                 **({"account": self.partner} if self.partner else {})},
            ],
            "steering_meeting_frequency": "quarterly",
            "evaluation_indicators": [
                {
                    "indicator": "Passages aux urgences évités",
                    "target": "6 par an",
                    "source": "Dossier de soins",
                }
            ],
            "start_date": self.day(14),
            "intermediate_evaluation_date": self.day(180),
            "final_evaluation_date": self.day(360),
            "end_date": self.day(365),
            "renewal": "express",
            "amendments": "Par avenant écrit signé des deux parties.",
            "termination_notice_months": 3,
            "termination_conditions": "Par lettre recommandée avec AR.",
            "disputes": "Conciliation, puis tribunal administratif de Montreuil.",
            "signature_place": "Montreuil",
            "signature_date": self.day(0),
            "convention_document": sha,
        }

    def deliberate_board(self, choice="approve", context=None):
        sha = self.store(
            f"deliberation-{choice}.txt",
            _documents_text("Extrait du registre des délibérations", f"Décision : {choice}."),
        )
        return {
            "approve": {
                "board_meeting_date": self.day(-3),
                "deliberation_number": "2026-07",
                "board_decision": "approve",
                "votes_for": 9,
                "votes_against": 0,
                "abstentions": 1,
                "deliberation_extract": sha,
            },
            "refuse": {
                "board_meeting_date": self.day(-3),
                "deliberation_number": "2026-06",
                "board_decision": "refuse",
                "board_refusal_reasons": "Engagement financier trop lourd pour l'exercice.",
                "deliberation_extract": sha,
            },
        }[choice]

    def sign_convention_director(self, choice=None, context=None):
        return {
            "signatory_full_name": "Claire Martin",
            "signatory_quality": "Directrice générale",
            "signature_consent": True,
        }

    def sign_convention_legal_representative(self, choice=None, context=None):
        return {
            "signatory_full_name": "Anne Roux",
            "signatory_quality": "Présidente de l'association",
            "signature_consent": True,
        }

    def sign_convention_partner(self, choice=None, context=None):
        return {
            "signatory_full_name": "Paul Lefèvre",
            "signatory_quality": "Directeur adjoint",
            "signature_consent": True,
        }

    def record_authority_approval(self, choice="approved", context=None):
        sha = self.store(
            f"decision-autorite-{choice}.txt",
            _documents_text("Décision de l'autorité", f"Décision : {choice}."),
        )
        return {
            "approved": {
                "groupement_kind": "gcsms",
                "approving_authority": "prefet",
                "authority_decision": "approved",
                "authority_decision_date": self.day(-1),
                "authority_decision_reference": "Arrêté préfectoral n° 2026-112",
                "authority_decision_document": sha,
            },
            "refused": {
                "groupement_kind": "gcs",
                "approving_authority": "ars",
                "authority_decision": "refused",
                "authority_decision_date": self.day(-1),
                "authority_decision_reference": "Décision n° 2026-9",
                "authority_decision_document": sha,
                "authority_refusal_reasons": "Budget prévisionnel incomplet.",
            },
        }[choice]

    def write_action_sheets(self, choice="single_plan", context=None, sheets=None):
        return {
            "realisation_mode": choice,
            "action_sheets": copy.deepcopy(sheets or [self.action_sheet(1, -30, -10)]),
        }

    def action_sheet(
        self, number: int, intermediate: int, final: int, start: int = -60, end: int = 400
    ) -> dict:
        """A sheet whose evaluation dates are `intermediate` and `final` days from today."""
        return {
            "sheet_number": number,
            "title": f"Consultation gériatrique avancée n° {number}",
            "objective_served": "convention",
            "starting_observation": "Douze passages aux urgences évitables l'an dernier.",
            "general_objective": "Éviter les hospitalisations évitables.",
            "operational_objectives": [{"objective": "Une demi-journée de consultation par mois"}],
            "public_concerned": "Résidents orientés par le médecin coordonnateur",
            "place": "Salle de soins du 1er étage",
            "pilot": "Karim Benali, cadre de santé",
            "partner_roles": [
                {
                    "organisation": "Centre hospitalier de Montreuil",
                    "referent": "Dr Nguyen",
                    "role": "Consultant",
                    "activity": "Consultation et avis écrit",
                }
            ],
            "start_date": self.day(start),
            "end_date": self.day(end),
            "indicators": [
                {
                    "indicator": "Résidents vus",
                    "target": "8 par séance",
                    "source": "Planning des consultations",
                },
                {"indicator": "Passages aux urgences évités", "target": "6 par an"},
            ],
            "intermediate_evaluation_date": self.day(intermediate),
            "final_evaluation_date": self.day(final),
            "status": "draft",
            "budget_eur": 1200,
        }

    def partner_states_interests(self, choice=None, context=None):
        return {
            "partner_interests": "Des avis gériatriques rendus plus tôt, moins de passages aux urgences.",
            "partner_needs": "Le projet médical partagé du GHT prévoit d'aller vers les EHPAD.",
            "partner_constraints": "Un gériatre disponible une demi-journée par mois au plus.",
            "partner_decision_process": "Le directoire valide les conventions ; la CME est consultée.",
            "partner_contact_role": "Directeur adjoint chargé des coopérations",
        }

    def rework_elaboration(self, choice=None, context=None):
        return self.elaborate_partnership(choice, context)

    def partner_validate_action_sheets(self, choice="accept", context=None):
        return {
            "accept": {"partner_action_sheets_decision": "accept"},
            "request_changes": {
                "partner_action_sheets_decision": "request_changes",
                "partner_action_sheets_comments": "Le jeudi plutôt que le mardi pour la consultation.",
            },
        }[choice]

    def partner_final_evaluation(self, choice="continue", context=None):
        return {
            "partner_assessment": "Des hospitalisations évitées et des équipes qui se connaissent.",
            "partner_difficulties": "Des comptes rendus parfois tardifs.",
            "partner_wish": choice,
            "partner_wish_reasons": "Le bilan est positif pour les résidents.",
        }

    def validate_action_sheets(self, choice="validate", context=None):
        return {
            "validate": {"action_sheets_decision": "validate"},
            "send_back": {
                "action_sheets_decision": "send_back",
                "action_sheets_validation_comment": "Ajouter un indicateur de satisfaction.",
            },
        }[choice]

    def record_realisation(self, choice=None, context=None):
        return {
            "realisation_start_date": self.day(0),
            "actions_carried_out": [
                {"sheet_number": 1, "action": "Première demi-journée de consultation", "status": "done"}
            ],
            "means_engaged": "Salle de soins, IDE coordinatrice.",
            "difficulties": "Transmission des dossiers à fiabiliser.",
        }

    record_period_realisation = record_realisation

    def plan_period(self, choice=None, context=None, start: int = 0, end: int = 89):
        return {
            "period_start_date": self.day(start),
            "period_end_date": self.day(end),
            "period_objectives": "Trois demi-journées de consultation ce trimestre.",
            "period_actions": [
                {"sheet_number": 1, "action": "Consultations mensuelles", "responsible": "Karim Benali"}
            ],
        }

    def _evaluation(self, context, value):
        rows = [dict(r, value=value) for r in (context or {}).get("indicator_values", [])]
        return {
            "evaluation_date": self.day(0),
            "indicator_values": rows,
            "findings": "Bonne adhésion des résidents ; délais de compte rendu à réduire.",
            "small_decisions": [{"decision": "Compte rendu sous 48 h", "owner": "Dr Nguyen"}],
            "conflicts": [
                {
                    "conflict": "Créneaux concurrents avec la kinésithérapie",
                    "handling": "Planning commun arrêté en comité",
                }
            ],
            "lessons_learnt": "Associer les familles dès la prise de rendez-vous.",
        }

    def review_period(self, choice="yes", context=None):
        data = self._evaluation(context, "7")
        data.pop("indicator_values")
        return dict(data, next_period=choice)

    def evaluate_intermediate(self, choice=None, context=None):
        return self._evaluation(context, "7")

    def evaluate_final(self, choice="end", context=None):
        return dict(
            self._evaluation(context, "9"),
            final_decision=choice,
            decision_rationale="Décision du comité de pilotage au vu des indicateurs.",
        )


NOTHING = {
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


def formalisation_inputs(**changes) -> dict:
    """The `formalisation_inputs` form: nothing triggers a level unless told."""
    return {**NOTHING, **changes}


# Realistic situations for each level.
LEVEL_CASES = {
    # the local gerontology network: people one can call, no shared project
    "L0": dict(informal_network_only=True),
    # one awareness day with the hospital: no money, no staff, no data
    "L1": dict(duration_months=1),
    # advanced consultations: personal data shared, the EHPAD lends its care room, 12 months
    "L2": dict(personal_data_shared=True, premises_or_equipment_lent=True, duration_months=12),
    # a night nurse shared with the hospital, paid above the director's ceiling, three years
    "L3": dict(money_flows=True, money_flow_amount_eur=42000, staff_made_available=True, duration_months=36),
    # a GCSMS with the hospital: joint hiring of a coordinator
    "L4": dict(
        joint_hiring_or_assets=True, money_flows=True, money_flow_amount_eur=80000, duration_months=60
    ),
}


# ------------------------------------------------------------------ the walk
