"""Seeded, deterministic catalogue data for :class:`~lensmor_async.testing.FakeLensmor`.

The *structure* of the catalogue is fixed so tests can name things; the seed varies
names, companies, titles, which exhibitors attend which event and every per-contact
unlock outcome. Event ids are stable for every seed:

=====  ========  =============================  ========  =========  ==========
id     eventId   name                           access    personnel  exhibitors
=====  ========  =============================  ========  =========  ==========
101    139574    Shoptalk Spring 2026           locked    237        24
102    140210    RetailNext Expo 2026           unlocked  80         14
103    140388    SaaS Growth Summit             locked    30         8
104    140512    Future of Payments Forum       locked    0          6
105    140777    Logistics & Supply Chain World unlocked  60         10
106    141003    HealthTech Connect             locked    120        12
107    141256    Marketing AI Week              locked    55         9
108    141480    Cloud Infrastructure Expo      unlocked  45         10
109    141733    Sustainable Packaging Summit   locked    20         5
=====  ========  =============================  ========  =========  ==========

Event 104 has no personnel, so unlocking it is refused (400, nothing charged).
The first six people of event 102 also attend events 105 and 108 (counted above).
"Acme Analytics" and "Acme Logistics" always exhibit at 101, 102 and 105.

Personnel ids are numeric strings from ``700001`` upwards, exhibitor ids run
``5001``–``5048``. Every value here is derived from ``(seed, id)`` through
:func:`derive`, which uses ``hashlib`` (Python's ``hash`` of ``str`` is salted per
process and would break reproducibility).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "FIRST_PERSON_ID",
    "BuyingSignal",
    "Category",
    "EventRecord",
    "EventTypeTag",
    "ExhibitorRecord",
    "PersonRecord",
    "SeedWorld",
    "UnlockOutcome",
    "build_world",
    "derive",
    "linkedin_slug",
    "make_person",
    "unlock_outcome",
]

FIRST_PERSON_ID = 700001


def derive(seed: int, *parts: object) -> int:
    """A stable 64-bit integer from the seed and any parts (process-independent)."""
    text = ":".join([str(seed), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(derive(seed, *parts))


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Category:
    """An event category as shown on event detail."""

    id: int
    code: str
    name: str
    description: str | None
    confidence: str | None


@dataclass(frozen=True, slots=True)
class EventTypeTag:
    """An entry of ``eventTypes`` on event detail."""

    id: int
    type_name: str
    slug: str
    is_primary: bool


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event of the catalogue (access state lives in the server state, not here)."""

    id: str
    event_id: str
    name: str
    nickname: str | None
    description: str | None
    url: str | None
    date_start: str | None
    date_end: str | None
    venue: str | None
    city: str | None
    region: str | None
    country: str | None
    image: str | None
    data_source: str | None
    latitude: str | None
    longitude: str | None
    attendee_count: int | None
    declared_expected_attendees: str | None
    estimated_expected_attendees: str | None
    price_lower: str | None
    price_upper: str | None
    event_type: str | None
    quality: str | None
    categories: tuple[Category, ...] = ()
    topics: tuple[str, ...] = ()
    event_types: tuple[EventTypeTag, ...] = ()
    verified: int = 1
    future: int = 1
    historic: int = 0
    historic_event: str | None = None


@dataclass(frozen=True, slots=True)
class BuyingSignal:
    """One buying signal of an exhibitor (0.21+ field set)."""

    signal_tag: str
    signal_date: str | None
    source_type: str | None
    source_title: str | None
    source_url: str | None
    evidence_summary: str | None
    relevance_to_icp: str | None
    recommended_play: str | None
    signal_score: int
    confidence: str
    direct_or_inferred: str
    analyzed_at: str


@dataclass(frozen=True, slots=True)
class ExhibitorRecord:
    """One exhibiting company."""

    id: str
    company_name: str
    domain: str | None
    description: str | None
    website: str | None
    industry: str | None
    employee_count: int | None
    company_size: str | None
    country: str | None
    logo: str | None
    data_source: str | None
    linkedin_url: str | None
    funding_round: str | None
    categories: tuple[str, ...] = ()
    tech_stacks: tuple[str, ...] = ()
    buying_signals: tuple[BuyingSignal, ...] = ()


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One person. ``email``/``phone`` are what an unlock *could* reveal, never shown directly."""

    id: str
    full_name: str
    title: str | None
    department: str | None
    seniority_level: str | None
    linkedin_url: str | None
    company_name: str | None
    exhibitor_id: str | None
    source_type: str | None
    email: str | None
    phone: str | None


class UnlockOutcome(enum.Enum):
    """What an email/phone unlock of one contact ends with."""

    DELIVERED = "delivered"
    """``unlocked`` with the value."""
    NO_VALUE = "no_value"
    """``unlocked`` but the value is ``null`` (no email/phone found)."""
    FAILED = "failed"
    """``failed`` with ``errorCode: TASK_FAILED`` (the fake refunds it)."""


# Percentage thresholds (delivered, no value); the rest fail.
_OUTCOME_WEIGHTS: dict[str, tuple[int, int]] = {"email": (70, 85), "phone": (55, 85)}


def unlock_outcome(seed: int, personnel_id: str, channel: str) -> UnlockOutcome:
    """The seeded outcome of unlocking ``channel`` (``email``/``phone``) for one contact."""
    delivered, no_value = _OUTCOME_WEIGHTS[channel]
    bucket = derive(seed, "outcome", channel, personnel_id) % 100
    if bucket < delivered:
        return UnlockOutcome.DELIVERED
    if bucket < no_value:
        return UnlockOutcome.NO_VALUE
    return UnlockOutcome.FAILED


# --------------------------------------------------------------------------- pools

_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas",
    "Mia", "Aiden", "Amelia", "Elijah", "Harper", "James", "Evelyn", "Benjamin", "Abigail",
    "Henry", "Priya", "Arjun", "Mei", "Hiroshi", "Yuki", "Carlos", "Lucia", "Mateo", "Sofia",
    "Omar", "Layla", "Fatima", "Tariq", "Ingrid", "Lars", "Freya", "Anders", "Chloe", "Jack",
    "Grace", "Daniel", "Hannah", "Samuel", "Zoe", "David", "Nora", "Gabriel", "Leah", "Rafael",
    "Elena",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Young", "Allen", "King", "Wright", "Patel", "Shah", "Nguyen", "Kim", "Chen", "Wang",
    "Tanaka", "Sato", "Muller", "Schmidt", "Rossi", "Bianchi", "Dubois", "Laurent", "Novak",
    "Kowalski", "Larsen", "Berg", "OConnor", "Murphy",
)  # fmt: skip

# (title, seniority) per department.
_TITLES: dict[str, tuple[tuple[str, str], ...]] = {
    "marketing": (
        ("Chief Marketing Officer", "c_suite"), ("VP Marketing", "vp"),
        ("Head of Growth Marketing", "director"), ("Brand Director", "director"),
        ("Marketing Manager", "manager"), ("Demand Generation Lead", "senior"),
        ("Content Marketing Specialist", "entry"),
    ),
    "sales": (
        ("Chief Revenue Officer", "c_suite"), ("VP Sales", "vp"), ("Sales Director", "director"),
        ("Head of Partnerships", "director"), ("Business Development Manager", "manager"),
        ("Account Executive", "senior"), ("Sales Development Representative", "entry"),
    ),
    "engineering": (
        ("Chief Technology Officer", "c_suite"), ("VP Engineering", "vp"),
        ("Engineering Manager", "manager"), ("Solutions Architect", "senior"),
        ("Staff Engineer", "senior"), ("Software Engineer", "entry"),
    ),
    "product": (
        ("Chief Product Officer", "c_suite"), ("Director of Product", "director"),
        ("Product Manager", "manager"), ("Senior Product Designer", "senior"),
    ),
    "operations": (
        ("Chief Operating Officer", "c_suite"), ("Director of Operations", "director"),
        ("Supply Chain Manager", "manager"), ("Operations Analyst", "entry"),
    ),
    "finance": (
        ("Chief Financial Officer", "c_suite"), ("Finance Director", "director"),
        ("FP&A Manager", "manager"),
    ),
    "executive": (("Chief Executive Officer", "c_suite"), ("Founder", "c_suite"),
                  ("Managing Director", "director")),
}  # fmt: skip
_DEPARTMENTS = tuple(_TITLES)

_COMPANIES: tuple[tuple[str, str, str], ...] = (
    # (name, industry, category)
    ("Acme Analytics", "Data & Analytics", "Analytics"),
    ("Acme Logistics", "Logistics", "Fulfillment"),
    ("Northwind Commerce", "Retail", "Commerce Platforms"),
    ("Brightline Payments", "Fintech", "Payments"),
    ("Bluepeak Software", "Software", "SaaS"),
    ("Cobalt Retail Systems", "Retail Technology", "Point of Sale"),
    ("Crescent Health", "Healthcare", "Digital Health"),
    ("Driftwood Labs", "Software", "Developer Tools"),
    ("Evergreen Packaging", "Manufacturing", "Packaging"),
    ("Fieldstone Foods", "Consumer Goods", "Food & Beverage"),
    ("Granite Cloud", "Cloud Infrastructure", "Hosting"),
    ("Harborview Freight", "Logistics", "Freight"),
    ("Helix Diagnostics", "Healthcare", "Diagnostics"),
    ("Ironclad Security", "Cybersecurity", "Security"),
    ("Juniper Marketing Group", "Marketing", "Agencies"),
    ("Keystone Data", "Data & Analytics", "Data Platforms"),
    ("Lumen Commerce", "E-commerce", "Commerce Platforms"),
    ("Maple & Oak Home", "Retail", "Home Goods"),
    ("Meridian Pay", "Fintech", "Payments"),
    ("Nimbus Networks", "Cloud Infrastructure", "Networking"),
    ("Oakridge Medical", "Healthcare", "Medical Devices"),
    ("Orbit Fulfillment", "Logistics", "Fulfillment"),
    ("Pinnacle Ads", "Marketing", "Advertising"),
    ("Quarry Robotics", "Manufacturing", "Automation"),
    ("Redwood Insights", "Data & Analytics", "Analytics"),
    ("Saffron Beauty", "Consumer Goods", "Beauty"),
    ("Silverline Telecom", "Telecommunications", "Connectivity"),
    ("Summit Ledger", "Fintech", "Accounting"),
    ("Tandem Checkout", "E-commerce", "Checkout"),
    ("Tidewater Shipping", "Logistics", "Freight"),
    ("Trellis HR", "HR Technology", "Workforce"),
    ("Umbra AI", "Artificial Intelligence", "Machine Learning"),
    ("Vantage Point Media", "Marketing", "Media"),
    ("Verdant Materials", "Manufacturing", "Sustainable Materials"),
    ("Waypoint Mobility", "Transportation", "Mobility"),
    ("Willow Care", "Healthcare", "Care Delivery"),
    ("Zenith Storefronts", "E-commerce", "Storefronts"),
    ("Atlas Warehouse Co", "Logistics", "Warehousing"),
    ("Beacon Loyalty", "Retail Technology", "Loyalty"),
    ("Cascade Compute", "Cloud Infrastructure", "Compute"),
    ("Delta Wellness", "Healthcare", "Wellness"),
    ("Ember Creative", "Marketing", "Creative Services"),
    ("Foxglove Apparel", "Retail", "Apparel"),
    ("Glacier Cold Chain", "Logistics", "Cold Chain"),
    ("Horizon Robotics", "Artificial Intelligence", "Robotics"),
    ("Indigo Identity", "Cybersecurity", "Identity"),
    ("Kestrel Analytics", "Data & Analytics", "Analytics"),
    ("Lattice Circuits", "Manufacturing", "Electronics"),
)
_COUNTRIES = ("United States", "United Kingdom", "Germany", "Canada", "Netherlands", "Singapore")
_FUNDING = ("Seed", "Series A", "Series B", "Series C", "Private Equity", "Public", None)
_TECH = ("Shopify", "Salesforce", "HubSpot", "AWS", "Snowflake", "Stripe", "Segment",
         "Google Analytics", "Zendesk", "Kubernetes", "React", "Marketo")  # fmt: skip
_SIGNALS = ("hiring_growth", "new_funding", "product_launch", "expansion", "leadership_change")


@dataclass(frozen=True, slots=True)
class _EventSpec:
    id: str
    event_id: str
    name: str
    nickname: str | None
    venue: str
    city: str
    region: str | None
    country: str
    date_start: str
    date_end: str
    event_type: str
    quality: str
    category: tuple[int, str, str]
    topics: tuple[str, ...]
    own_personnel: int
    exhibitors: int
    unlocked: bool
    attendees: int | None
    lat_lon: tuple[str, str]
    prices: tuple[str | None, str | None]


_EVENT_SPECS: tuple[_EventSpec, ...] = (
    _EventSpec("101", "139574", "Shoptalk Spring 2026", "Shoptalk",
               "Mandalay Bay Convention Center", "Las Vegas", "Nevada", "United States",
               "2026-03-24", "2026-03-26", "trade_show", "Global", (11, "retail", "Retail"),
               ("retail", "ecommerce", "payments"), 237, 24, False, 10000,
               ("36.0909", "-115.1761"), ("1495", "3995")),
    _EventSpec("102", "140210", "RetailNext Expo 2026", "RetailNext", "Javits Center", "New York",
               "New York", "United States", "2026-01-11", "2026-01-13", "trade_show", "Global",
               (11, "retail", "Retail"), ("retail", "store operations"), 80, 14, True, 40000,
               ("40.7578", "-74.0022"), ("0", "1299")),
    _EventSpec("103", "140388", "SaaS Growth Summit", None, "Moscone West", "San Francisco",
               "California", "United States", "2026-05-05", "2026-05-06", "conference_led",
               "Regional", (12, "software", "Software"), ("saas", "growth"), 30, 8, False, 1800,
               ("37.7840", "-122.4014"), ("599", "1299")),
    _EventSpec("104", "140512", "Future of Payments Forum", "FPF", "ExCeL London", "London",
               "England", "United Kingdom", "2026-06-16", "2026-06-17", "conference_led",
               "Standard", (13, "fintech", "Fintech"), ("payments", "open banking"), 0, 6, False,
               None, ("51.5081", "0.0295"), (None, None)),
    _EventSpec("105", "140777", "Logistics & Supply Chain World", "LSCW", "Ahoy Rotterdam",
               "Rotterdam", "South Holland", "Netherlands", "2026-04-14", "2026-04-16",
               "trade_show", "Regional", (14, "logistics", "Logistics"),
               ("logistics", "supply chain", "warehousing"), 54, 10, True, 8500,
               ("51.8828", "4.4870"), ("0", "450")),
    _EventSpec("106", "141003", "HealthTech Connect", None, "Boston Convention Center", "Boston",
               "Massachusetts", "United States", "2026-09-21", "2026-09-23", "conference_led",
               "Global", (15, "healthcare", "Healthcare"), ("digital health", "diagnostics"),
               120, 12, False, 6200, ("42.3450", "-71.0467"), ("899", "2199")),
    _EventSpec("107", "141256", "Marketing AI Week", "MAIW", "CityCube Berlin", "Berlin", "Berlin",
               "Germany", "2026-10-06", "2026-10-08", "conference_led", "Regional",
               (16, "marketing", "Marketing"), ("marketing", "artificial intelligence"), 55, 9,
               False, 3400, ("52.5005", "13.2700"), ("350", "990")),
    _EventSpec("108", "141480", "Cloud Infrastructure Expo", "CIE", "Marina Bay Sands Expo",
               "Singapore", None, "Singapore", "2026-08-19", "2026-08-20", "trade_show",
               "Standard", (17, "cloud", "Cloud Computing"), ("cloud", "devops"), 39, 10, True,
               5000, ("1.2834", "103.8607"), ("0", "800")),
    _EventSpec("109", "141733", "Sustainable Packaging Summit", None, "Enercare Centre", "Toronto",
               "Ontario", "Canada", "2026-11-03", "2026-11-04", "vendor_summit", "Standard",
               (18, "packaging", "Packaging"), ("sustainability", "packaging"), 20, 5, False,
               900, ("43.6340", "-79.4150"), ("250", "600")),
)  # fmt: skip

# Events that also list the first six people of event 102.
_SHARED_FROM = "102"
_SHARED_INTO = ("105", "108")
_SHARED_COUNT = 6
# Companies always exhibiting at these events (search-events tests rely on it).
_ANCHOR_COMPANIES = ("5001", "5002")
_ANCHOR_EVENTS = ("101", "102", "105")


# --------------------------------------------------------------------------- builders


@functools.lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    # Cached: generated rosters rebuild people on every read and reuse few names.
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def linkedin_slug(full_name: str, personnel_id: str) -> str:
    """The LinkedIn slug the fake gives a person: ``first-last-<id>`` (id makes it unique)."""
    words = [w for w in (_slug(part) for part in full_name.split()) if w]
    return "-".join([*words, personnel_id])


def _event_record(spec: _EventSpec) -> EventRecord:
    cat_id, cat_code, cat_name = spec.category
    has_people = spec.own_personnel > 0 or spec.id in _SHARED_INTO
    return EventRecord(
        id=spec.id,
        event_id=spec.event_id,
        name=spec.name,
        nickname=spec.nickname,
        description=f"{spec.name} brings together leaders in {', '.join(spec.topics)}.",
        url=f"https://events.example.com/{_slug(spec.name)}",
        date_start=spec.date_start,
        date_end=spec.date_end,
        venue=spec.venue,
        city=spec.city,
        region=spec.region,
        country=spec.country,
        image=f"https://images.example.com/events/{spec.event_id}.jpg",
        data_source="database",
        latitude=spec.lat_lon[0],
        longitude=spec.lat_lon[1],
        attendee_count=spec.attendees if has_people else None,
        declared_expected_attendees=f"{spec.attendees}+" if spec.attendees else None,
        estimated_expected_attendees=str(spec.attendees) if spec.attendees else None,
        price_lower=spec.prices[0],
        price_upper=spec.prices[1],
        event_type=spec.event_type,
        quality=spec.quality,
        categories=(Category(cat_id, cat_code, cat_name, f"{cat_name} events", "high"),),
        topics=spec.topics,
        event_types=(
            EventTypeTag(
                1 + _EVENT_TYPE_IDS.index(spec.event_type),
                spec.event_type,
                spec.event_type.replace("_", "-"),
                True,
            ),
        ),
    )


_EVENT_TYPE_IDS = ("trade_show", "vendor_summit", "startup_festival", "conference_led")


def _buying_signals(rng: random.Random, company: str) -> tuple[BuyingSignal, ...]:
    count = rng.choice((0, 0, 1, 2))
    signals = []
    for n in range(count):
        tag = rng.choice(_SIGNALS)
        signals.append(
            BuyingSignal(
                signal_tag=tag,
                signal_date=f"2026-0{rng.randint(1, 5)}-{rng.randint(10, 28)}",
                source_type="news",
                source_title=f"{company}: {tag.replace('_', ' ')}",
                source_url=f"https://news.example.com/{_slug(company)}/{n}",
                evidence_summary=f"{company} shows signs of {tag.replace('_', ' ')}.",
                relevance_to_icp="Matches the ideal customer profile.",
                recommended_play="Book a meeting at the event.",
                signal_score=rng.randint(40, 98),
                confidence=rng.choice(("high", "medium", "low")),
                direct_or_inferred=rng.choice(("direct", "inferred")),
                analyzed_at=str(1_767_225_600_000 + rng.randint(0, 10_000_000_000)),
            )
        )
    return tuple(signals)


def _company_size(employees: int) -> str:
    for limit, label in ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")):
        if employees <= limit:
            return label
    return "1000+"


def make_exhibitor(
    seed: int, exhibitor_id: str, name: str, industry: str, category: str
) -> ExhibitorRecord:
    """Build one exhibitor record; everything but the name is seeded by ``(seed, id)``."""
    rng = _rng(seed, "exhibitor", exhibitor_id)
    domain = f"{_slug(name)}.com"
    employees = rng.choice((8, 35, 120, 480, 2500, 12000))
    return ExhibitorRecord(
        id=exhibitor_id,
        company_name=name,
        domain=domain,
        description=f"{name} is a {industry.lower()} company focused on {category.lower()}.",
        website=f"https://www.{domain}",
        industry=industry,
        employee_count=employees,
        company_size=_company_size(employees),
        country=rng.choice(_COUNTRIES),
        logo=f"https://logos.example.com/{domain}.png",
        data_source="database",
        linkedin_url=f"https://linkedin.com/company/{_slug(name)}",
        funding_round=rng.choice(_FUNDING),
        categories=(category,),
        tech_stacks=tuple(sorted(rng.sample(_TECH, rng.randint(1, 4)))),
        buying_signals=_buying_signals(rng, name),
    )


def make_person(
    seed: int,
    personnel_id: int,
    event_exhibitors: Sequence[ExhibitorRecord],
    all_exhibitors: Sequence[ExhibitorRecord],
) -> PersonRecord:
    """Build one person from ``(seed, id)``; pure, so huge rosters need no storage.

    Most people work for one of the event's exhibitors (``sourceType`` ``exhibitor``);
    the rest were found on social networks and work elsewhere (``social``).
    """
    rng = _rng(seed, "person", personnel_id)
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    department = rng.choice(_DEPARTMENTS)
    title, seniority = rng.choice(_TITLES[department])
    exhibitor: ExhibitorRecord | None = None
    if event_exhibitors and rng.random() < 0.8:
        exhibitor = rng.choice(event_exhibitors)
        company, source = exhibitor.company_name, "exhibitor"
    elif all_exhibitors:
        company, source = rng.choice(all_exhibitors).company_name, "social"
    else:
        company, source = "Independent", "social"
    pid = str(personnel_id)
    full_name = f"{first} {last}"
    domain = exhibitor.domain if exhibitor and exhibitor.domain else f"{_slug(company)}.com"
    return PersonRecord(
        id=pid,
        full_name=full_name,
        title=title,
        department=department,
        seniority_level=seniority,
        linkedin_url=f"https://linkedin.com/in/{linkedin_slug(full_name, pid)}",
        company_name=company,
        exhibitor_id=exhibitor.id if exhibitor else None,
        source_type=source,
        email=f"{_slug(first)}.{_slug(last)}@{domain}",
        phone=f"+1-555-{personnel_id // 10000 % 1000:03d}-{personnel_id % 10000:04d}",
    )


@dataclass(slots=True)
class SeedWorld:
    """The initial catalogue for one seed."""

    events: list[EventRecord] = field(default_factory=list)
    initially_unlocked: set[str] = field(default_factory=set)
    exhibitors: list[ExhibitorRecord] = field(default_factory=list)
    event_exhibitors: dict[str, list[str]] = field(default_factory=dict)
    persons: list[PersonRecord] = field(default_factory=list)
    rosters: dict[str, list[str]] = field(default_factory=dict)
    next_person_id: int = FIRST_PERSON_ID


def _assign_exhibitors(seed: int, world: SeedWorld) -> None:
    ids = [e.id for e in world.exhibitors]
    for spec in _EVENT_SPECS:
        chosen = list(_ANCHOR_COMPANIES) if spec.id in _ANCHOR_EVENTS else []
        pool = [i for i in ids if i not in chosen]
        _rng(seed, "lineup", spec.id).shuffle(pool)
        chosen += pool[: spec.exhibitors - len(chosen)]
        world.event_exhibitors[spec.id] = sorted(chosen, key=int)


def _populate(seed: int, world: SeedWorld) -> None:
    by_id = {e.id: e for e in world.exhibitors}
    for spec in _EVENT_SPECS:
        lineup = [by_id[i] for i in world.event_exhibitors[spec.id]]
        roster = world.rosters.setdefault(spec.id, [])
        for _ in range(spec.own_personnel):
            person = make_person(seed, world.next_person_id, lineup, world.exhibitors)
            world.next_person_id += 1
            world.persons.append(person)
            roster.append(person.id)
    shared = world.rosters[_SHARED_FROM][:_SHARED_COUNT]
    for event_id in _SHARED_INTO:
        world.rosters[event_id].extend(shared)


def build_world(seed: int) -> SeedWorld:
    """Build the deterministic initial catalogue for ``seed``."""
    world = SeedWorld()
    world.events = [_event_record(spec) for spec in _EVENT_SPECS]
    world.initially_unlocked = {spec.id for spec in _EVENT_SPECS if spec.unlocked}
    world.exhibitors = [
        make_exhibitor(seed, str(5001 + n), name, industry, category)
        for n, (name, industry, category) in enumerate(_COMPANIES)
    ]
    _assign_exhibitors(seed, world)
    _populate(seed, world)
    return world
