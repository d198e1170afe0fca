"""Deterministic, realistic demo data for the fake: users, accounts, contacts, leads, opportunities.

:func:`demo_rows` builds the rows (attribute names, explicit GUIDs, lookups as GUIDs with their
``<name>type`` companions) and :func:`seed_demo_data` inserts them into a
:class:`~d365leads.fake.org.org.Org` through seeding (no business rules, so closed
records can be created directly).  The same ``seed`` and ``now`` always give the same rows.

What the data holds (with the default 300 leads):

* five users: the caller (when ``caller_id`` is given) and four sales people; every lead,
  account and contact is owned by one of them, so "My Open Leads" differs per user;
* accounts (organisations) and contacts, some contacts linked to an account
  (``parentcustomerid``), some standalone (a business that sells to individuals);
* open leads (New / Contacted), some naming an existing account or contact;
* qualified leads, each with the account and/or contact it created (``originatingleadid``) or
  its existing customer, an opportunity (``originatingleadid``, ``customerid``, parent links,
  currency) in progress, won or lost, ``qualifyingopportunityid`` set, and an
  ``opportunityclose`` row for each closed opportunity;
* disqualified leads with each of the four reasons (Lost, Cannot Contact, No Longer Interested,
  Canceled), spread over two years of ``createdon`` so "older than 365 days" selections find
  rows of every kind.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from . import seeding
from .state import OrgState

__all__ = ["DEFAULT_NOW", "demo_rows", "seed_demo_data"]

DEFAULT_NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
"""The reference time of :func:`demo_rows` when no ``now`` is given."""

_NAMESPACE = uuid.UUID("0f6c2b8e-94d1-4e57-8a3b-5c7d1e9f2a64")

_FIRST = (
    "Ana", "Ben", "Chloe", "Dmitri", "Elif", "Farah", "Gustavo", "Hana", "Ivan", "Jun",
    "Kwame", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Dario",
)  # fmt: skip
_LAST = (
    "Lee", "Okafor", "Martin", "Novak", "Yilmaz", "Haddad", "Silva", "Sato", "Petrov", "Chen",
    "Mensah", "Fischer", "Garcia", "Rahman", "Berg", "Iyer", "Dubois", "Rossi", "Lind",
    "Aziz", "Costa", "Kowalski", "Nguyen", "Lopez", "Demir", "Walsh", "Tanaka", "Moreau",
    "Herrera", "Ricci", "O'Brien", "Van der Berg",
)  # fmt: skip
_COMPANY_A = (
    "Contoso", "Fabrikam", "Northwind", "Adventure", "Tailspin", "Litware", "Proseware",
    "Wingtip", "Coho", "Alpine", "Blue Yonder", "Margie's", "Lucerne", "Trey", "Wide World",
    "Fourth Coffee", "Humongous", "Woodgrove", "Relecloud", "Datum",
)  # fmt: skip
_COMPANY_B = (
    "Ltd", "Inc.", "GmbH", "Logistics", "Foods", "Travel", "Bank", "Labs", "Systems",
    "Outfitters", "Publishing", "Winery", "Consulting", "Energy",
)  # fmt: skip
_PRODUCTS = (
    "espresso machines", "cloud backup", "fleet telematics", "office chairs", "solar panels",
    "CRM onboarding", "security audit", "laptops", "3D printers", "training seats",
    "support plan", "delivery vans", "warehouse robots", "POS terminals",
)  # fmt: skip
_TOPICS = (
    "Interested in {n} {p}",
    "Quote request: {p}",
    "Trade show follow-up: {p}",
    "Renewal of {p}",
    "Website inquiry about {p}",
    "Pilot for {n} {p}",
)
_JOBS = (
    "Purchasing Manager", "CTO", "Office Manager", "Head of Operations", "CFO", "IT Director",
    "Owner", "Procurement Lead", "Facilities Manager", "Marketing Director",
)  # fmt: skip
_CITIES = (
    ("Seattle", "WA", "98101", "United States"),
    ("Redmond", "WA", "98052", "United States"),
    ("Austin", "TX", "73301", "United States"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("London", None, "EC1A 1BB", "United Kingdom"),
    ("Berlin", None, "10115", "Germany"),
    ("Lyon", None, "69001", "France"),
    ("Osaka", None, "530-0001", "Japan"),
    ("Sao Paulo", "SP", "01000-000", "Brazil"),
    ("Nairobi", None, "00100", "Kenya"),
)
_USERS = (
    ("Maria", "Campbell"),
    ("Dev", "Anand"),
    ("Sofia", "Lindqvist"),
    ("Tom", "Baker"),
)
_DISQUALIFY_REASONS = (4, 5, 6, 7)  # Lost, Cannot Contact, No Longer Interested, Canceled
_SOURCES = tuple(range(1, 11))


def _id(seed: int, kind: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{seed}:{kind}:{index}"))


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    def __init__(
        self, seed: int, now: datetime, caller_id: str | None, currency_id: str | None
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = now
        self.currency_id = currency_id
        self.users = [_id(seed, "systemuser", i) for i in range(len(_USERS))]
        self.owners = ([caller_id] if caller_id else []) + self.users
        self.rows: dict[str, list[dict[str, Any]]] = {
            "systemuser": [],
            "account": [],
            "contact": [],
            "lead": [],
            "opportunity": [],
            "opportunityclose": [],
        }
        self.counters: dict[str, int] = {}

    def next_id(self, kind: str) -> str:
        index = self.counters.get(kind, 0)
        self.counters[kind] = index + 1
        return _id(self.seed, kind, index)

    def created(self, max_days: int = 730) -> datetime:
        days = self.rng.uniform(1, max_days)
        return (self.now - timedelta(days=days)).replace(microsecond=0)

    def modified(self, created: datetime) -> datetime:
        span = (self.now - created).total_seconds()
        return created + timedelta(seconds=int(self.rng.uniform(0, span * 0.6)))

    def person(self) -> tuple[str, str]:
        return self.rng.choice(_FIRST), self.rng.choice(_LAST)

    def email(self, first: str, last: str, domain: str) -> str:
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        return f"{local}@{domain}"

    def phone(self) -> str:
        return f"+1-555-01{self.rng.randint(0, 99):02d}"

    def address(self) -> dict[str, Any]:
        city, region, postal, country = self.rng.choice(_CITIES)
        return {
            "address1_line1": f"{self.rng.randint(1, 999)} {self.rng.choice(_LAST)} Street",
            "address1_city": city,
            "address1_stateorprovince": region,
            "address1_postalcode": postal,
            "address1_country": country,
        }

    def company(self) -> tuple[str, str]:
        name = f"{self.rng.choice(_COMPANY_A)} {self.rng.choice(_COMPANY_B)}"
        domain = name.lower().replace("'", "").replace(".", "").replace(" ", "") + ".example.com"
        return name, domain

    def topic(self) -> str:
        template = self.rng.choice(_TOPICS)
        return template.format(
            n=self.rng.choice((5, 10, 20, 50, 120, 500)), p=self.rng.choice(_PRODUCTS)
        )

    # --- tables -----------------------------------------------------------------------------

    def add_users(self) -> None:
        for user_id, (first, last) in zip(self.users, _USERS, strict=True):
            self.rows["systemuser"].append(
                {
                    "systemuserid": user_id,
                    "firstname": first,
                    "lastname": last,
                    "domainname": self.email(first, last, "example.com"),
                    "internalemailaddress": self.email(first, last, "example.com"),
                    "isdisabled": False,
                }
            )

    def add_account(self, *, owner: str, created: datetime, **extra: Any) -> dict[str, Any]:
        name, domain = self.company()
        row: dict[str, Any] = {
            "accountid": self.next_id("account"),
            "name": name,
            "websiteurl": f"https://www.{domain}",
            "telephone1": self.phone(),
            "emailaddress1": f"info@{domain}",
            **self.address(),
            "ownerid": owner,
            "createdon": _stamp(created),
            "modifiedon": _stamp(self.modified(created)),
            "statecode": 0,
            "statuscode": 1,
        }
        row.update(extra)
        self.rows["account"].append(row)
        return row

    def add_contact(
        self, *, owner: str, created: datetime, account: dict[str, Any] | None, **extra: Any
    ) -> dict[str, Any]:
        first, last = self.person()
        domain = account["websiteurl"].removeprefix("https://www.") if account else "example.com"
        row: dict[str, Any] = {
            "contactid": self.next_id("contact"),
            "firstname": first,
            "lastname": last,
            "jobtitle": self.rng.choice(_JOBS),
            "emailaddress1": self.email(first, last, domain),
            "telephone1": self.phone(),
            "mobilephone": self.phone(),
            **self.address(),
            "ownerid": owner,
            "createdon": _stamp(created),
            "modifiedon": _stamp(self.modified(created)),
            "statecode": 0,
            "statuscode": 1,
        }
        if account is not None:
            row["parentcustomerid"] = account["accountid"]
            row["parentcustomeridtype"] = "account"
        row.update(extra)
        self.rows["contact"].append(row)
        return row

    def base_lead(self, created: datetime, owner: str) -> dict[str, Any]:
        first, last = self.person()
        company, domain = self.company()
        has_company = self.rng.random() < 0.8
        row: dict[str, Any] = {
            "leadid": self.next_id("lead"),
            "subject": self.topic(),
            "firstname": first,
            "lastname": last,
            "jobtitle": self.rng.choice(_JOBS),
            "emailaddress1": self.email(first, last, domain if has_company else "example.com"),
            "telephone1": self.phone(),
            "mobilephone": self.phone(),
            "leadsourcecode": self.rng.choice(_SOURCES),
            "ownerid": owner,
            "createdon": _stamp(created),
            "modifiedon": _stamp(self.modified(created)),
            **self.address(),
        }
        if has_company:
            row["companyname"] = company
            row["websiteurl"] = f"https://www.{domain}"
            row["numberofemployees"] = self.rng.choice((5, 12, 40, 150, 800, 5000))
        if self.rng.random() < 0.6:
            row["estimatedamount"] = float(self.rng.randrange(2_000, 250_000, 500))
            if self.currency_id:
                row["transactioncurrencyid"] = self.currency_id
        return row

    def add_leads(self, count: int) -> None:
        accounts = self.rows["account"]
        contacts = self.rows["contact"]
        for index in range(count):
            owner = self.owners[index % len(self.owners)]
            created = self.created()
            lead = self.base_lead(created, owner)
            kind = self.rng.random()
            if kind < 0.4:
                lead["statecode"] = 0
                lead["statuscode"] = self.rng.choice((1, 1, 2))
                if self.rng.random() < 0.15 and accounts:
                    lead["parentaccountid"] = self.rng.choice(accounts)["accountid"]
                elif self.rng.random() < 0.1 and contacts:
                    lead["parentcontactid"] = self.rng.choice(contacts)["contactid"]
            elif kind < 0.62:
                self.qualify(lead, owner, created)
            else:
                lead["statecode"] = 2
                lead["statuscode"] = _DISQUALIFY_REASONS[index % len(_DISQUALIFY_REASONS)]
                if self.rng.random() < 0.3:
                    lead["qualificationcomments"] = self.rng.choice(
                        (
                            "No budget this year.",
                            "No management support now.",
                            "Needs products we do not sell.",
                            "Could not reach them in time.",
                        )
                    )
            self.rows["lead"].append(lead)

    def qualify(self, lead: dict[str, Any], owner: str, created: datetime) -> None:
        """Close ``lead`` as Qualified with the records qualification would have made."""
        lead_id = lead["leadid"]
        closed = self.modified(created)
        lead["statecode"], lead["statuscode"] = 1, 3
        lead["modifiedon"] = _stamp(closed)
        account: dict[str, Any] | None = None
        contact: dict[str, Any] | None = None
        existing = self.rows["account"]
        if self.rng.random() < 0.25 and existing:
            account = self.rng.choice(existing)
            lead["parentaccountid"] = account["accountid"]
        elif lead.get("companyname"):
            account = self.add_account(
                owner=owner, created=closed, originatingleadid=lead_id, name=lead["companyname"]
            )
            account["websiteurl"] = lead.get("websiteurl")
            account["address1_telephone1"] = lead.get("telephone1")
            account.update({k: v for k, v in lead.items() if k.startswith("address1_")})
        contact = self.add_contact(
            owner=owner,
            created=closed,
            account=account,
            originatingleadid=lead_id,
            firstname=lead["firstname"],
            lastname=lead["lastname"],
            jobtitle=lead["jobtitle"],
            emailaddress1=lead["emailaddress1"],
            mobilephone=lead["mobilephone"],
            managerphone=lead["telephone1"],
        )
        if account is not None and account.get("originatingleadid") == lead_id:
            account["primarycontactid"] = contact["contactid"]
        customer = account or contact
        customer_type = "account" if account is not None else "contact"
        opportunity: dict[str, Any] = {
            "opportunityid": self.next_id("opportunity"),
            "name": lead["subject"],
            "customerid": customer[f"{customer_type}id"],
            "customeridtype": customer_type,
            "originatingleadid": lead_id,
            "ownerid": owner,
            "createdon": _stamp(closed),
            "modifiedon": _stamp(closed),
            "estimatedvalue": lead.get("estimatedamount"),
            "closeprobability": self.rng.choice((10, 25, 50, 75, 90)),
        }
        if lead.get("parentaccountid"):
            opportunity["parentaccountid"] = lead["parentaccountid"]
        if self.currency_id:
            opportunity["transactioncurrencyid"] = self.currency_id
        outcome = self.rng.random()
        if outcome < 0.5:
            opportunity["statecode"], opportunity["statuscode"] = 0, self.rng.choice((1, 1, 2))
        else:
            won = outcome < 0.75
            state, status = (1, 3) if won else (2, self.rng.choice((4, 5)))
            opportunity["statecode"], opportunity["statuscode"] = state, status
            end = self.modified(closed)
            opportunity["actualclosedate"] = end.date().isoformat()
            opportunity["modifiedon"] = _stamp(end)
            revenue = opportunity.get("estimatedvalue") or 10_000.0
            if won:
                opportunity["actualvalue"] = revenue
            close: dict[str, Any] = {
                "activityid": self.next_id("opportunityclose"),
                "subject": f"{'Won' if won else 'Lost'}: {lead['subject']}"[:200],
                "opportunityid": opportunity["opportunityid"],
                "actualrevenue": revenue if won else 0.0,
                "actualend": end.date().isoformat(),
                "statecode": 1,
                "statuscode": 2,
                "ownerid": owner,
                "createdon": _stamp(end),
                "modifiedon": _stamp(end),
            }
            if self.currency_id:
                close["transactioncurrencyid"] = self.currency_id
            self.rows["opportunityclose"].append(close)
        self.rows["opportunity"].append(opportunity)
        lead["qualifyingopportunityid"] = opportunity["opportunityid"]


def demo_rows(
    seed: int = 7,
    *,
    now: datetime | None = None,
    caller_id: str | None = None,
    currency_id: str | None = None,
    leads: int = 300,
) -> dict[str, list[dict[str, Any]]]:
    """Build the demo rows by logical table name, in an order that seeds cleanly.

    ``now`` (aware; default :data:`DEFAULT_NOW`) anchors ``createdon`` over the two years
    before it; ``caller_id`` adds that user to the owners (give the fake's caller so "My Open
    Leads" has rows); ``currency_id`` is used for money columns and opportunities.
    Deterministic for equal arguments.
    """
    if leads < 1:
        raise ValueError("leads must be at least 1")
    anchor = now or DEFAULT_NOW
    if anchor.tzinfo is None:
        raise ValueError("now must be an aware datetime (tzinfo=timezone.utc)")
    builder = _Builder(seed, anchor, caller_id, currency_id)
    builder.add_users()
    for index in range(max(8, leads // 8)):
        owner = builder.owners[index % len(builder.owners)]
        account = builder.add_account(owner=owner, created=builder.created())
        for _ in range(builder.rng.randint(0, 2)):
            builder.add_contact(owner=owner, created=builder.created(), account=account)
    for index in range(max(4, leads // 12)):
        owner = builder.owners[index % len(builder.owners)]
        builder.add_contact(owner=owner, created=builder.created(), account=None)
    builder.add_leads(leads)
    for rows in builder.rows.values():
        for row in rows:
            for key in [k for k, v in row.items() if v is None]:
                del row[key]
    return builder.rows


def seed_demo_data(org: OrgState, *, seed: int = 7) -> dict[str, list[str]]:
    """Seed :func:`demo_rows` into ``org`` (owners include its caller); return ids by table."""
    rows = demo_rows(
        seed, now=org.clock(), caller_id=org.caller_id, currency_id=org.base_currency_id
    )
    ids: dict[str, list[str]] = {}
    with org.store.transaction():
        for logical_name, table_rows in rows.items():
            ids[logical_name] = seeding.seed(org, logical_name, table_rows)
    return ids
