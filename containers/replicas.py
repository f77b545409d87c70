"""The service replicas: the profiles they run (and what a profile chooses for Postgres),
the settings the stack gives every replica besides its own (rate limits sized for the load
generator, tracing, the database URL), and the command that runs one under memray.
`Stack.service_environment` puts these together.
"""

from __future__ import annotations

from containers.definitions import POSTGRES_DB, POSTGRES_PASSWORD, POSTGRES_USER
from service.regressions import POSTGRES_REGRESSION

__all__ = [
    "LOAD_GENERATOR_RATE_LIMITS",
    "MEMRAY_CAPTURE",
    "PROFILES",
    "TRACES_DIR",
    "TRACING_ENV",
    "check_profile",
    "database_url",
    "postgres_is_tuned",
    "replica_command",
]

PROFILES = ("optimized", "baseline")
MEMRAY_CAPTURE = "/memray/service.bin"
#: Where a traced replica writes its OTLP JSON span files (``Stack(tracing=True)``).
TRACES_DIR = "/app/traces"
#: A traced stack's sampling: requests that arrive with a sampled ``traceparent`` are
#: traced (the gate's probes send one), and 2 % of the others (the load's: enough for a
#: typical and a slowest request per endpoint, little enough to cost the load next to
#: nothing). Spans reach the file within 0.2 s.
TRACING_ENV = {
    "TASTEMATCH_TRACES_DIR": TRACES_DIR,
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.02",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
}

#: Rate limits of the stack's services. The service's defaults (30 logins and 10
#: registrations a minute per client address, 10 logins a minute per account) are sized
#: for one person; the load generator is one address standing for hundreds of diners, and
#: its Zipf-skewed picks log the busiest seeded account in several times a minute (the
#: spike and capacity loads log in 80-300 diners within a minute or two). These leave the
#: standard loads well under every limit while the limiter still does its work (a Redis
#: call per limit per attempt) on each login and registration. The password queue likewise:
#: a spike, or every diner logging in again after the service was killed, may have more
#: logins waiting for bcrypt than the service's default lets wait (32). `service_env`
#: overrides them.
LOAD_GENERATOR_RATE_LIMITS = {
    "TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS": "3000/minute",
    "TASTEMATCH_LOGIN_LIMIT_PER_ACCOUNT": "600/minute",
    "TASTEMATCH_REGISTER_LIMIT_PER_ADDRESS": "3000/minute",
    "TASTEMATCH_HASH_QUEUE": "1000",
}


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return profile


def postgres_is_tuned(profile: str, regressions: frozenset[str]) -> bool:
    """Postgres runs with the tuned configuration unless R6 is on or the profile is baseline."""
    return profile != "baseline" and POSTGRES_REGRESSION not in regressions


def database_url(host: str, port: int) -> str:
    """The service's SQLAlchemy URL of the database at ``host:port`` in the stack's network."""
    return f"postgresql+psycopg://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{host}:{port}/{POSTGRES_DB}"


def replica_command(memray: bool) -> list[str] | None:
    """The command of a replica: None for the image's own, else the service under
    `memray run`, writing its capture to `MEMRAY_CAPTURE`."""
    if not memray:
        return None
    # Not --aggregate: the default capture format survives an OOM kill.
    command = ["python", "-m", "memray", "run", "--output", MEMRAY_CAPTURE, "--force"]
    command += ["-m", "service"]
    return command
