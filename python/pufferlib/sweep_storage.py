"""Where a sweep's optuna study lives: --sweep.storage checked, then opened, with one-line errors.

Allowed: sqlite:///PATH (the default, experiments/<env>/sweeps/<study>.db), postgresql://USER[:PASS]@HOST
[:PORT]/DB (driver: pip install 'pufferlib[postgres]'), mysql://... (with its driver), and
journal:PATH (a journal file, e.g. on a shared file system). Every check runs before anything is
written; a bad value raises ConfigError naming it and what is allowed.
"""
import os
import time
from pathlib import Path

from .config import ConfigError

ALLOWED = "sqlite:///PATH, postgresql://USER@HOST[:PORT]/DB, mysql://USER@HOST/DB or journal:PATH"
DRIVERS = {"postgresql": "pip install 'pufferlib[postgres]' (psycopg2)", "mysql": "pip install pymysql"}


def _bad(url, why):
    return ConfigError(f"--sweep.storage '{url}': {why}")


def _check_folder(url, path, what):
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise _bad(url, f"folder {folder} does not exist ({what} needs an existing folder)")
    if not os.access(folder, os.W_OK):
        raise _bad(url, f"folder {folder} is not writable")


def redact(url):
    """The URL without its password, for messages."""
    if url.startswith("journal:"):
        return url
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def check_storage(url):
    """The URL to open (with the driver this machine has), or ConfigError unless url names a storage
    this machine can open (scheme, folder, driver)."""
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        if not path or path.endswith("/"):
            raise _bad(url, "journal:PATH needs a file name")
        _check_folder(url, path, "journal:PATH")
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _bad(url, f"not a storage URL; allowed: {ALLOWED}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise _bad(url, "an in-memory SQLite study cannot be shared by the workers; give a file: sqlite:///PATH")
        _check_folder(url, parsed.database, "sqlite:///PATH")
        return url
    if backend not in DRIVERS:
        raise _bad(redact(url), f"unknown scheme '{parsed.drivername}'; allowed: {ALLOWED}")
    tries = [parsed]
    if parsed.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg (3) from 2.1 on
        tries.append(parsed.set(drivername="postgresql+psycopg2"))
    error = None
    for candidate in tries:
        try:
            dialect = candidate.get_dialect()
            dialect.import_dbapi() if hasattr(dialect, "import_dbapi") else dialect.dbapi()
            return candidate.render_as_string(hide_password=False)
        except (ImportError, NoSuchModuleError) as e:
            error = error or e
    raise _bad(redact(url), f"its driver is not installed ({error}); {DRIVERS[backend]}")


def open_storage(url):
    """The optuna storage for url (checked first). Server errors become one-line ConfigErrors."""
    shown, url = redact(url), check_storage(url)
    import optuna
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        return JournalStorage(JournalFileBackend(url[len("journal:"):]))
    # Two processes opening a new database at once (a supervisor and its workers, a second
    # supervisor, optuna-dashboard) both try to create the schema; the loser gets an integrity
    # error from the schema version row. The schema is there by then: open it again.
    from sqlalchemy.exc import IntegrityError, OperationalError
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except IntegrityError:
            pass
        except OperationalError as e:
            if not url.startswith("sqlite"):  # a server that refuses us: say so, no traceback
                reason = str(e.orig if getattr(e, "orig", None) is not None else e).strip().splitlines()
                raise _bad(shown, f"cannot connect: {reason[0] if reason else type(e).__name__}") from None
            if attempt == 4:
                raise
        time.sleep(0.2 * (attempt + 1))
    raise _bad(shown, "could not create the study schema (another process kept failing it)")
