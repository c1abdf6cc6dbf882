"""Small built-in vocabularies: tenants, countries, names, places, phone plans, texts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TenantSpec:
    """A generated tenant: its folder, controller, policy and where its customers live."""

    tenant_id: str
    controller: str
    brand: str
    countries: tuple[tuple[str, float], ...]
    retention: tuple[tuple[str, int], ...]
    dsr_sla_days: int
    consent_refresh_days: int


_RET = ("interaction.recording", "interaction.transcript", "interaction.metadata", "campaign.event", "crm.contact")

_NAMED: tuple[tuple[str, str, str, tuple[tuple[str, float], ...], tuple[int, ...], int, int], ...] = (
    ("acme-energy", "ACME Energy Ltd", "ACME Energy", (("GB", 0.85), ("IE", 0.10), ("DE", 0.05)),
     (90, 180, 730, 395, 1095), 30, 730),
    ("borealis-telecom", "Borealis Telecom plc", "Borealis", (("GB", 0.70), ("IE", 0.10), ("NL", 0.10), ("FR", 0.10)),
     (60, 120, 540, 365, 730), 30, 365),
    ("cobalt-insurance", "Cobalt Insurance SE", "Cobalt Insurance", (("GB", 0.55), ("DE", 0.25), ("FR", 0.10), ("NL", 0.10)),
     (180, 365, 1825, 395, 2190), 30, 730),
    ("delta-water", "Delta Water Services Ltd", "Delta Water", (("GB", 0.95), ("IE", 0.05)),
     (30, 90, 365, 180, 730), 28, 540),
    ("ember-retail", "Ember Retail GmbH", "Ember", (("DE", 0.70), ("GB", 0.20), ("NL", 0.10)),
     (45, 90, 400, 270, 1460), 30, 730),
    ("fjord-travel", "Fjord Travel AS", "Fjord Travel", (("GB", 0.50), ("NL", 0.25), ("DE", 0.25)),
     (120, 240, 900, 500, 1825), 30, 1095),
)


def tenant_specs(n: int) -> list[TenantSpec]:
    """The first `n` tenants: six named ones, then numbered variations of them."""
    specs = []
    for i in range(n):
        tid, controller, brand, countries, ret, sla, refresh = _NAMED[i % len(_NAMED)]
        if i >= len(_NAMED):
            k = i // len(_NAMED) + 1
            tid, controller, brand = f"{tid}-{k}", f"{controller} (group {k})", f"{brand} {k}"
            ret = tuple(d + 15 * k for d in ret)
            refresh += 30 * k
        specs.append(TenantSpec(tid, controller, brand, countries, tuple(zip(_RET, ret, strict=True)), sla, refresh))
    return specs


COUNTRY_NAMES = {"GB": "United Kingdom", "IE": "Ireland", "DE": "Germany", "FR": "France", "NL": "Netherlands"}
COUNTRY_CODES = {"GB": "44", "IE": "353", "DE": "49", "FR": "33", "NL": "31"}
LANGUAGE = {"GB": "en-GB", "IE": "en-IE", "DE": "de-DE", "FR": "fr-FR", "NL": "nl-NL"}

# National significant number plans libphonenumber accepts as valid: (prefix, random digits after it, area length).
MOBILE = {
    "GB": (("74", 8, 4), ("75", 8, 4), ("79", 8, 4)),
    "IE": (("83", 7, 2), ("85", 7, 2), ("86", 7, 2), ("87", 7, 2)),
    "DE": (("151", 8, 3), ("152", 8, 3), ("157", 8, 3)),
    "FR": (("61", 7, 1), ("62", 7, 1), ("65", 7, 1), ("66", 7, 1), ("67", 7, 1)),
    "NL": (("61", 7, 1), ("62", 7, 1), ("63", 7, 1), ("64", 7, 1), ("65", 7, 1)),
}
LANDLINE = {
    "GB": (("207", 7, 2), ("208", 7, 2), ("161", 7, 3)),
    "IE": (("1", 7, 1),),
    "DE": (("30", 7, 2), ("40", 7, 2), ("89", 7, 2)),
    "FR": (("1", 8, 1),),
    "NL": (("20", 7, 2), ("10", 7, 2), ("30", 7, 2)),
}

FIRST = {
    "GB": ("Oliver", "Amelia", "Harry", "Isla", "Jack", "Ava", "George", "Mia", "Noah", "Emily", "Charlie", "Sophie",
           "Jacob", "Grace", "Alfie", "Lily", "Freddie", "Ella", "Thomas", "Chloe", "Priya", "Mohammed", "Aisha",
           "Daniel", "Hannah", "James", "Olivia", "William", "Ruby", "Samuel"),
    "IE": ("Seán", "Aoife", "Conor", "Niamh", "Cian", "Saoirse", "Darragh", "Ciara", "Oisín", "Róisín", "Liam",
           "Orla", "Eoin", "Siobhán", "Padraig", "Grainne"),
    "DE": ("Lukas", "Anna", "Jonas", "Lena", "Felix", "Marie", "Leon", "Sophie", "Paul", "Lea", "Maximilian",
           "Johanna", "Jürgen", "Katrin", "Stefan", "Sabine"),
    "FR": ("Lucas", "Emma", "Hugo", "Léa", "Louis", "Chloé", "Jules", "Manon", "Gabriel", "Camille", "Théo",
           "Inès", "Mathieu", "Élodie", "Nicolas", "Céline"),
    "NL": ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sophie", "Levi", "Anna", "Bram", "Fleur",
           "Jeroen", "Marieke", "Sanne", "Thijs"),
}
LAST = {
    "GB": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
           "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Khan", "Lewis", "O'Brien",
           "Clarke", "Hughes", "Edwards"),
    "IE": ("Murphy", "Kelly", "O'Sullivan", "Walsh", "Byrne", "Ryan", "O'Connor", "O'Neill", "Doyle", "McCarthy",
           "Gallagher", "Kennedy", "Lynch", "Quinn"),
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann",
           "Schäfer", "Koch", "Richter", "Klein", "Wolf"),
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
           "Lefèvre", "Girard", "Fournier", "Lambert"),
    "NL": ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
           "Meijer", "de Boer", "Mulder", "Bos", "Vos"),
}
STREETS = {
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road", "Park Avenue",
           "Mill Lane", "Kings Road", "Queens Drive"),
    "IE": ("Main Street", "Church Road", "Strand Road", "Dublin Road", "Castle Street", "Bridge Street"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Dorfstraße", "Bergstraße"),
    "FR": ("rue de la Paix", "avenue Victor Hugo", "rue Nationale", "boulevard Voltaire", "rue des Écoles"),
    "NL": ("Kerkstraat", "Dorpsstraat", "Molenweg", "Schoolstraat", "Stationsweg", "Julianastraat"),
}
CITIES = {
    "GB": ("London", "Manchester", "Leeds", "Bristol", "Birmingham", "Glasgow", "Cardiff", "Norwich", "York"),
    "IE": ("Dublin", "Cork", "Galway", "Limerick", "Waterford"),
    "DE": ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig"),
    "FR": ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven"),
}
DOMAINS = {
    "GB": ("gmail.com", "outlook.com", "yahoo.co.uk", "btinternet.com", "hotmail.co.uk", "sky.com"),
    "IE": ("gmail.com", "eircom.net", "outlook.ie", "hotmail.com"),
    "DE": ("gmail.com", "web.de", "gmx.de", "t-online.de"),
    "FR": ("gmail.com", "orange.fr", "free.fr", "laposte.net"),
    "NL": ("gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.nl"),
}
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
QUEUES = ("Billing", "Support", "Sales", "Moving home", "Payments", "Retentions")
INTENTS = ("billing", "payment", "moving_home", "tariff_change", "fault", "cancel", "complaint")

# Data use purposes: (key, Name, Description).
PURPOSES = (
    ("marketing", "Marketing", "Offers and news about our products by email, phone, SMS or post"),
    ("service", "Service updates", "Messages about the customer's account, bills and service changes"),
    ("profiling", "Profiling", "Personalised offers based on usage and interaction history"),
    ("research", "Customer research", "Satisfaction surveys and product research"),
)
CAPTURE_SOURCES = ("Web signup form", "Call centre", "Mobile app", "Paper form", "Account portal", "Legacy import 2019")
NOTICE_VERSIONS = ("PN-2019-03", "PN-2021-07", "PN-2023-01", "PN-2024-09", "PN-2025-05")
DSR_DETAILS = {
    "access": ("Customer asked for a copy of all data including call recordings",
               "Subject access request received by letter", "Wants to know who we share data with"),
    "erasure": ("Please delete all my data, I have closed my account", "Right to be forgotten request via web form",
                "Customer asked on a call to erase everything"),
    "rectification": ("Surname misspelled on account", "Address on file is out of date",
                      "Date of birth recorded incorrectly"),
    "restriction": ("Disputes accuracy of billing history; restrict processing while checked",
                    "Restrict processing pending complaint outcome"),
    "objection": ("Objects to profiling for personalised offers", "Objects to direct marketing by phone"),
    "portability": ("Wants usage data in machine-readable form to switch supplier",
                    "Portability request: export of contract and usage data"),
}
HOLD_REASONS = ("Ombudsman complaint under investigation", "Litigation: disputed debt", "Fraud investigation",
                "Regulator information request", "Insurance claim dispute")
BREACHES = (
    ("Misdirected email with a customer's bill sent to another customer", "contact details; billing", 1, 48),
    ("Agent laptop stolen from car; disk encrypted, no evidence of access", "contact details", 0, 40),
    ("Call recordings bucket briefly readable by a third-party vendor account", "voice recordings; contact details", 0, 120),
    ("Phishing: agent credentials used to view customer records", "contact details; contract details", 0, 96),
    ("Campaign list with email addresses uploaded to the wrong SendGrid subaccount", "email addresses", 1, 30),
)
