"""A realistic relationship map for tests: French EHPAD, hospitals, town halls, associations
and schools, one spreadsheet row per relationship, with the export's French headers."""

from __future__ import annotations

import csv
import io
import random

from partnerflow.engine.method import map_io

TOWNS = ["Montreuil", "Bagnolet", "Romainville", "Pantin", "Bobigny", "Noisy-le-Sec", "Rosny-sous-Bois",
         "Vincennes", "Fontenay-sous-Bois", "Saint-Denis", "Aubervilliers", "Les Lilas", "Bondy",
         "Villemomble", "Gagny", "Livry-Gargan", "Sevran", "Drancy", "Le Raincy", "Neuilly-Plaisance"]
KINDS = [  # name pattern, type as written in the spreadsheet, has FINESS
    ("EHPAD Les {flower} de {town}", "EHPAD", True),
    ("Centre hospitalier de {town}", "Hôpital", True),
    ("Mairie de {town}", "Mairie", False),
    ("Association {saint} de {town}", "Association", False),
    ("Collège {person} de {town}", "Établissement scolaire", False),
    ("IME {saint} de {town}", "IME", True),
]
FLOWERS = ["Tilleuls", "Lilas", "Glycines", "Acacias", "Jonquilles", "Mimosas", "Hortensias"]
SAINTS = ["Saint-Vincent", "Les Amis du quartier", "Entraide", "La Main tendue", "Solidarité"]
PEOPLE = ["Jean Jaurès", "Louise Michel", "Marie Curie", "Victor Hugo", "Jules Ferry", "Simone Veil"]
RELATIONS = ["réseau", "coopération", "partenariat"]


def organisations(count: int, seed: int = 7) -> list[dict]:
    """`count` distinct partner organisations with valid SIRET (and FINESS where they have one)."""
    rng = random.Random(seed)
    seen, orgs = set(), []
    while len(orgs) < count:
        pattern, kind, finess = KINDS[len(orgs) % len(KINDS)]
        name = pattern.format(flower=rng.choice(FLOWERS), town=rng.choice(TOWNS),
                              saint=rng.choice(SAINTS), person=rng.choice(PEOPLE))
        if name in seen:
            name = f"{name} ({len(orgs)})"
        seen.add(name)
        n = len(orgs)
        orgs.append({"name": name, "kind": kind, "siret": f"{21930000000000 + n * 1013:014d}",
                     "finess": f"93{n:07d}" if finess else "",
                     "address": f"{n + 1} rue de la République, {rng.choice(TOWNS)}",
                     "contact": f"Contact {n}, 01 48 {n % 100:02d} {n % 97:02d} 00"})
    return orgs


def rows(count: int, seed: int = 7) -> list[dict]:
    """One valid relationship per organisation, as a spreadsheet holds it (French dates)."""
    rng = random.Random(seed)
    out = []
    for i, org in enumerate(organisations(count, seed)):
        kind = RELATIONS[i % 3]
        written = kind != "réseau"
        start_year = 2018 + i % 7
        out.append({
            "Référence": "", "Partenaire": org["name"], "Type de structure": org["kind"],
            "SIRET": org["siret"], "FINESS": org["finess"], "Adresse": org["address"],
            "Contact": org["contact"], "Relation": kind,
            "Depuis": f"{1 + i % 28:02d}/{1 + i % 12:02d}/{2010 + i % 12}",
            "Accord": "écrit" if written else "oral",
            "Début de convention": f"01/01/{start_year}" if written else "",
            "Fin de convention": f"{start_year + 3}-12-31" if written else "",
            "Renouvellement": f"01/10/{start_year + 3}" if written else "",
            "Niveau de formalisation": f"L{1 + i % 4}" if written else "L0",
            "Référents": rng.choice(["Mme Martin", "M. Benali", "Mme Durand"]),
            "Notes": "- rencontre annuelle" if i % 10 == 0 else "",
        })
    return out


def to_csv(table: list[dict], delimiter: str = ";", bom: bool = True) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(map_io.HEADERS), delimiter=delimiter,
                            lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(table)
    return out.getvalue().encode("utf-8-sig" if bom else "utf-8")


def to_xlsx(table: list[dict]) -> bytes:
    return map_io.to_xlsx([[row[h] for h in map_io.HEADERS] for row in table])
