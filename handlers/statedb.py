"""Reference state-systems database standing in for GBD FL, GBD UL and E-licensing."""

import datetime

from sqlalchemy import Column
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import Dialect
from sqlalchemy import Engine
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import TypeDecorator
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import make_url

# the app keeps this file in its instance folder and passes the full URL to configure()
DEFAULT_FILENAME = "state_systems.sqlite"


class UtcDateTime(TypeDecorator):
    """Store timezone-aware UTC datetimes as naive UTC and return them aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: Dialect):
        """Convert an aware datetime to naive UTC before storing it."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(datetime.UTC)")
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime.datetime | None, dialect: Dialect):
        """Mark a stored naive UTC datetime as UTC."""
        return None if value is None else value.replace(tzinfo=datetime.UTC)


metadata = MetaData()



def _decision_of_application() -> Column:
    """Return the column tying a licence or refusal to its one application."""
    return Column("application_number", String(32), ForeignKey("application.number"),
                  nullable=False, unique=True)


person = Table(
    "person", metadata,
    Column("iin", String(12), primary_key=True), Column("surname", String(100), nullable=False),
    Column("given_name", String(100), nullable=False), Column("patronymic", String(100)),
    Column("birth_date", Date, nullable=False),
)
company = Table(
    "company", metadata,
    Column("bin", String(12), primary_key=True), Column("name", String(300), nullable=False),
    Column("head_iin", String(12), nullable=False), Column("registered_on", Date, nullable=False),
)
application = Table(
    "application", metadata,
    Column("number", String(32), primary_key=True),
    Column("applicant_iin_bin", String(12), nullable=False),
    Column("service", String(200), nullable=False),
    Column("licence_case", String(200), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
)
licence = Table(
    "licence", metadata,
    Column("number", String(32), primary_key=True), _decision_of_application(),
    Column("holder_iin_bin", String(12), nullable=False),
    Column("holder_name", String(300), nullable=False),
    Column("activity", String(300), nullable=False),
    Column("status", String(20), nullable=False, default="issued"),
    Column("issued_at", UtcDateTime, nullable=False),
)
refusal = Table(
    "refusal", metadata,
    Column("number", String(32), primary_key=True), _decision_of_application(),
    Column("reasons", Text, nullable=False), Column("refused_at", UtcDateTime, nullable=False),
)
counter = Table(
    "counter", metadata,
    Column("name", String(50), primary_key=True), Column("value", Integer, nullable=False),
)

_state: dict[str, Engine] = {}


def _on_sqlite_connect(dbapi_connection, _connection_record) -> None:
    """Enable WAL and foreign keys, and let SQLAlchemy emit BEGIN itself."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, no fsync per commit
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    """Take the write lock up front so read-then-write transactions cannot race."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def configure(database_url: str) -> None:
    """Create the engine for database_url and create any missing tables."""
    old = _state.pop("engine", None)
    if old is not None:
        old.dispose()
    new = create_engine(database_url)
    if make_url(database_url).get_backend_name() == "sqlite":
        event.listen(new, "connect", _on_sqlite_connect)
        event.listen(new, "begin", _on_sqlite_begin)
    metadata.create_all(new)
    _state["engine"] = new


def engine() -> Engine:
    """Return the configured engine."""
    try:
        return _state["engine"]
    except KeyError:
        raise RuntimeError("statedb not configured") from None


def next_number(conn: Connection, name: str) -> int:
    """Increment the counter called name within the caller's transaction and return it."""
    step = update(counter).where(counter.c.name == name).values(value=counter.c.value + 1)
    if conn.execute(step).rowcount == 0:
        conn.execute(insert(counter).values(name=name, value=1))
        return 1
    return conn.execute(select(counter.c.value).where(counter.c.name == name)).scalar_one()


_DEMO_PERSONS = (
    ("900115300003", "Abenov", "Nurlan", "Serikovich", datetime.date(1990, 1, 15)),
    ("850722400018", "Sadykova", "Aigerim", "Bolatkyzy", datetime.date(1985, 7, 22)),
    ("000520600016", "Omarova", "Dana", None, datetime.date(2000, 5, 20)),
    ("680310400011", "Zhakupova", "Gulnara", "Tlekovna", datetime.date(1968, 3, 10)),
)

_DEMO_COMPANIES = (
    ("150140000012", '"Shygys Geo Survey" LLP', "680310400011", datetime.date(2015, 1, 20)),
    ("160341000017", '"Altai Izdestiru" LLP branch', "900115300003", datetime.date(2016, 3, 2)),
)


def seed_demo() -> None:
    """Insert the synthetic demo persons and companies that are not there yet."""
    person_keys = ("iin", "surname", "given_name", "patronymic", "birth_date")
    company_keys = ("bin", "name", "head_iin", "registered_on")
    with engine().begin() as conn:
        known_iins = set(conn.execute(select(person.c.iin)).scalars())
        known_bins = set(conn.execute(select(company.c.bin)).scalars())
        for row in _DEMO_PERSONS:
            if row[0] not in known_iins:
                conn.execute(insert(person).values(dict(zip(person_keys, row, strict=True))))
        for row in _DEMO_COMPANIES:
            if row[0] not in known_bins:
                conn.execute(insert(company).values(dict(zip(company_keys, row, strict=True))))
