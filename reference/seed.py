"""Synthetic demo data (DOMAIN §1.3 test vectors, valid check digits), inserted idempotently."""

from sqlalchemy import Engine
from sqlalchemy import Table
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from werkzeug.security import generate_password_hash

from reference import db
from reference import pep

# every demo person and company can log in to the portal with this password
DEMO_PASSWORD = "portal-demo"  # noqa: S105 - published demo credential, synthetic accounts only

PERSON_FIELDS = ("iin", "surname", "given_name", "patronymic", "birth_date")
DEMO_PERSONS = (
    ("900115300003", "Abenov", "Nurlan", "Serikovich", "1990-01-15"),
    ("850722400018", "Sadykova", "Aigerim", "Bolatkyzy", "1985-07-22"),
    ("000520600016", "Omarova", "Dana", None, "2000-05-20"),
    ("680310400011", "Zhakupova", "Gulnara", "Tlekovna", "1968-03-10"),
    # in GBD FL but heads no company
    ("900115300401", "Tulegenov", "Arman", None, "1990-01-15"),
)
# a valid IIN (DOMAIN §1.3 test vector, second-pass check digit) that no reference registry holds
UNKNOWN_VALID_IIN = "900115300413"

COMPANY_FIELDS = ("bin", "name", "form", "registered_on", "head_iin")
DEMO_COMPANIES = (
    # directed by applicants, never by a staff signer (Zhakupova, the head, signs the licences)
    ("150140000012", '"Shygys Geo Survey" LLP', "LLP", "2015-01-20", "850722400018"),
    ("160341000017", '"Altai Izdestiru" LLP branch', "LLP", "2016-03-02", "900115300003"),
)

# invoice number -> (payer, service, amount in MCI, tenge paid; None = in full)
DEMO_INVOICES = {
    "PEP-DEMO-PAID": ("150140000012", "survey_license", 10, None),
    "PEP-DEMO-UNPAID": ("150140000012", "survey_license", 10, 0),
    "PEP-DEMO-PART": ("150140000012", "survey_license", 10, 1000),
}


def seed(engine: Engine) -> None:
    """Insert whatever demo persons, companies, accounts and invoices are missing.

    Demo persons and companies that differ from the seed (an older seed's head, say) are
    brought back to it.
    """
    with engine.begin() as conn:
        _sync_rows(conn, db.person, PERSON_FIELDS, DEMO_PERSONS)
        _sync_rows(conn, db.company, COMPANY_FIELDS, DEMO_COMPANIES)
        _seed_accounts(conn)
        _seed_invoices(conn)


def _sync_rows(conn: Connection, table: Table, fields: tuple[str, ...],
                    rows: tuple[tuple, ...]) -> None:
    """Insert the rows whose primary key (first field) the table lacks; correct the others."""
    key = table.c[fields[0]]
    known = {tuple(r) for r in conn.execute(select(*(table.c[f] for f in fields)))}
    known_keys = {r[0] for r in known}
    for row in rows:
        values = dict(zip(fields, row, strict=True))
        if row[0] not in known_keys:
            conn.execute(insert(table).values(values))
        elif tuple(row) not in known:
            conn.execute(update(table).where(key == row[0]).values(values))


def _seed_accounts(conn: Connection) -> None:
    """Give each demo person and company a portal account with the demo password."""
    wanted = [row[0] for row in DEMO_PERSONS + DEMO_COMPANIES]
    known = set(conn.execute(select(db.account.c.iin_bin)).scalars())
    missing = [iin_bin for iin_bin in wanted if iin_bin not in known]
    if not missing:
        return
    # one (slow, salted) hash serves all demo accounts: they share the published password
    password_hash = generate_password_hash(DEMO_PASSWORD)
    for iin_bin in missing:
        conn.execute(insert(db.account).values(iin_bin=iin_bin, password_hash=password_hash))


def _seed_invoices(conn: Connection) -> None:
    """Create the paid, unpaid and underpaid demo invoices."""
    known = set(conn.execute(select(db.invoice.c.number)).scalars())
    moment = db.now()
    for number, (payer, service, amount_mci, paid) in DEMO_INVOICES.items():
        if number in known:
            continue
        created = pep.insert_invoice(conn, number, payer_iin_bin=payer, service=service,
                                     amount_mci=amount_mci, moment=moment)
        amount_kzt = created["amount_kzt"] if paid is None else paid
        if amount_kzt:
            pep.record_payment(conn, number, amount_kzt, moment)
